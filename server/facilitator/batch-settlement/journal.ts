// The channel journal: every channel's state, each accepted voucher with the output it paid for, what is
// claimed and what is linked, kept in the ledger (SQLite, or PostgreSQL shared by several instances). A
// voucher is stored (committed, fsynced) before the paid answer leaves, and only if the channel's charged
// total is still the one it was checked against, so a restarted server or another instance knows every
// voucher and none is accepted twice. Claims and links run under the ledger's sweep lease.
import type { ChannelLedger } from "../../ledger/types.ts";

export type ChannelJournal = ChannelLedger;
