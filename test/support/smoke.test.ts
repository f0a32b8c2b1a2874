import { describe, expect, it } from "vitest";
import { errnoName, vmFlagCodes } from "../../bindings/kernel/facts.js";

describe("pipeline smoke test", () => {
  it("reads kernel facts", () => {
    expect(errnoName(12)).toBe("ENOMEM");
    // VM_READ|VM_WRITE|VM_MAYREAD|VM_MAYWRITE|VM_MAYEXEC|VM_ACCOUNT
    expect(vmFlagCodes(0x100073)).toBe("rd wr mr mw me ac");
  });
});
