import { describe, expect, it } from "vitest";
import { ApiError, errorMessage, fieldErrors, toProblem } from "./errors";

describe("problem+json errors", () => {
  it("shows detail, else title", () => {
    expect(errorMessage(new ApiError(409, { title: "Conflict", detail: "Email taken", code: "conflict" }))).toBe("Email taken");
    expect(errorMessage(new ApiError(404, { title: "Not found", code: "not_found" }))).toBe("Not found");
    expect(new ApiError(500, {}).message).toContain("500");
  });

  it("maps 422 errors[].loc to field names", () => {
    const err = new ApiError(422, {
      code: "validation_failed",
      errors: [
        { loc: ["body", "email"], msg: "not a valid email" },
        { loc: ["body", "password"], msg: "too short" },
        { loc: ["body", "tags", 0], msg: "too long" },
        { loc: [], msg: "something general" },
      ],
    });
    expect(fieldErrors(err)).toEqual({
      email: "not a valid email",
      password: "too short",
      tags: "too long",
      "": "something general",
    });
    expect(fieldErrors(new Error("x"))).toEqual({});
  });

  it("turns a non-JSON body into a problem", () => {
    expect(toProblem(502, "Bad Gateway", "<html>")).toMatchObject({ status: 502, title: "Bad Gateway" });
  });
});
