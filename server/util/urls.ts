// Every public path the server answers that another module links to, built in one place.
import { getAddress } from "ethers";

/** An epoch's published document (the `uri` posted on-chain). */
export const epochPath = (splitter: string, epoch: number | bigint) => `/epochs/${getAddress(splitter)}/${epoch}`;

/** An output's attribution record, payment and epoch proof. */
export const attributionPath = (outputId: string) => `/attributions/${outputId}`;

/** What an address earned, claimed and can claim. */
export const contributorPath = (address: string) => `/contributors/${address}`;

/** A datanet's description (public). */
export const datanetPath = (id: string) => `/datanets/${encodeURIComponent(id)}`;

/** Admin: append contributions to a datanet, or rebuild its index. */
export const adminDatanetPath = (id: string, action: "contributions" | "rebuild") => `/admin/datanets/${encodeURIComponent(id)}/${action}`;

/** The dashboard page of one output. */
export const outputPagePath = (outputId: string) => `/outputs/${outputId}`;
