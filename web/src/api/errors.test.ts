import { describe, expect, it } from "vitest";
import { ApiError, errorMessage, fieldErrors, networkError, toProblem } from "./errors";

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
        { loc: ["body", "email"], msg: "value is not a valid email address: An email address must have an @-sign." },
        { loc: ["body", "password"], msg: "String should have at least 8 characters" },
        { loc: ["body", "tags", 0], msg: "String should have at most 50 characters" },
        { loc: [], msg: "Value error, something general" },
      ],
    });
    expect(fieldErrors(err)).toEqual({
      email: "Enter an email address like name@example.com.",
      password: "Use at least 8 characters.",
      tags: "Use at most 50 characters.",
      "": "Something general.",
    });
    expect(fieldErrors(new Error("x"))).toEqual({});
  });

  it("says network failures, rate limits and server faults in plain words, without the browser's jargon", () => {
    const offline = networkError(new TypeError("Failed to fetch"));
    expect(errorMessage(offline)).toBe("The server can't be reached. Check your connection and try again.");
    expect(errorMessage(offline)).not.toContain("Failed to fetch");
    expect(errorMessage(new ApiError(429, { code: "rate_limited", title: "Too many requests" }))).toMatch(/wait a minute/i);
    expect(errorMessage(new ApiError(503, { code: "unavailable" }))).toMatch(/try again/i);
    expect(errorMessage(new ApiError(422, { code: "validation_failed", detail: "body.password: String should have at least 8 characters",
      errors: [{ loc: ["body", "password"], msg: "String should have at least 8 characters" }] }))).toBe("Use at least 8 characters.");
  });

  it("turns a non-JSON body into a problem", () => {
    expect(toProblem(502, "Bad Gateway", "<html>")).toMatchObject({ status: 502, title: "Bad Gateway" });
  });
});
