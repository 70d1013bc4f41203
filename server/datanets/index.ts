// Datanets: contributions in registration order, the corpora that seed them, and the service that
// loads each datanet, keeps its contributions in the ledger and builds its index.
export { Datanet } from "./datanet.ts";
export { loadBrownCorpus } from "./corpora.ts";
export { DatanetService, DatanetError } from "./service.ts";
