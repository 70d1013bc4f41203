// Datanets: contributions in registration order, the corpora that seed them, and the service that
// loads each datanet, keeps its contributions in the ledger and builds its index.
export { Datanet, saveDatanet, loadDatanet, contentHashOf, type Contribution, type ContributionInput } from "./datanet.ts";
export { loadBrownCorpus, loadBrownDocument, brownDocumentIds, brownToText, type CorpusDocument } from "./corpora.ts";
export { DatanetService, DatanetError, seedContributor, type IndexInfo } from "./service.ts";
