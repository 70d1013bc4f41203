// Tool names: MCP allows [A-Za-z0-9_.-] in a tool name; model ids may also hold ":".
import { describe, expect, it } from "vitest";
import { toolName, toolResource } from "../../server/mcp/tools.ts";

describe("MCP tool names", () => {
  it("keep a model id MCP allows as it is, and replace what it does not allow", () => {
    expect(toolName("brown-storyteller")).toBe("brown-storyteller");
    expect(toolName("org.model_v2")).toBe("org.model_v2");
    expect(toolName("acme:brown:7b")).toBe("acme_brown_7b");
    expect(toolName("acme:brown:7b")).toMatch(/^[A-Za-z0-9_.-]{1,128}$/);
  });

  it("name the tool's resource as the x402 MCP transport does", () => {
    expect(toolResource("brown-storyteller")).toBe("mcp://tool/brown-storyteller");
  });
});
