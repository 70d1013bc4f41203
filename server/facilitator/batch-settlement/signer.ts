// The wallet the channel facilitator sends with: a viem wallet client with public actions, whose
// account is the channels' receiver authorizer (and a registered facilitator of each splitter).
import type { Account, Chain, PublicActions, Transport, WalletClient } from "viem";

export type ChannelSigner = WalletClient<Transport, Chain, Account> & PublicActions<Transport, Chain, Account>;
