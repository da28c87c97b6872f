import { useCallback, useEffect, useState, type FormEvent } from "react";
import { errorMessage } from "../api/errors";
import { ACCESS_SCOPES, accessOf, type NewPersonalToken, type PersonalToken, type TokenScope } from "../api/tokens";
import { useApi } from "../app/ServicesContext";
import { Alert } from "./Alert";
import { SelectField, TextField } from "./Field";
import { useAction } from "./useAction";
import { maxLength, required, useFieldErrors, validate, type Check } from "./validation";

const ACCESS_OPTIONS = [
  { value: "read", label: "Read only" },
  { value: "write", label: "Read and write tasks" },
  { value: "admin", label: "Everything (boards, members, webhooks, tokens)" },
] as const;
const ACCESS_LABEL: Record<TokenScope, string> = { read: "read only", write: "read and write", admin: "everything" };

const days: Check = (value) => {
  const n = Number(value);
  return Number.isInteger(n) && n >= 1 && n <= 365 ? null : "Enter a whole number of days from 1 to 365.";
};

const dateOf = (iso: string) => new Date(iso).toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });

/** Personal access tokens for scripts: made here, their secret shown once, revoked at once. */
export function ApiTokens() {
  const api = useApi();
  const [tokens, setTokens] = useState<PersonalToken[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [name, setName] = useState("");
  const [access, setAccess] = useState<TokenScope>("read");
  const [expiresIn, setExpiresIn] = useState("30");
  const [created, setCreated] = useState<NewPersonalToken | null>(null);

  const load = useCallback(() => {
    api.tokens.list().then(
      (list) => { setTokens(list); setLoadError(null); },
      (err: unknown) => setLoadError(errorMessage(err)),
    );
  }, [api]);
  useEffect(load, [load]);

  const create = useAction(async () => {
    const token = await api.tokens.create({ name: name.trim(), scopes: ACCESS_SCOPES[access], expires_in_days: Number(expiresIn) });
    setCreated(token);
    setName("");
    load();
  });
  const revoke = useAction(async (id: string) => {
    await api.tokens.revoke(id);
    if (created?.id === id) setCreated(null);
    load();
  });

  const errors = useFieldErrors(create);
  const onSubmit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    setCreated(null);
    const checks = { name: [required("a name for the token"), maxLength(100)], expires_in_days: [days] };
    if (errors.check(e.currentTarget, validate({ name, expires_in_days: expiresIn }, checks))) void create.run();
  };

  return (
    <section className="api-tokens" aria-labelledby="tokens-title">
      <h2 id="tokens-title">API tokens</h2>
      <p>
        For scripts and integrations: send a token as <code>Authorization: Bearer tfp_…</code>. It acts as you, within
        its access, until it expires or you revoke it; changing your password revokes them all.
      </p>
      {created && (
        <div className="card new-token" role="status">
          <p>
            <strong>Copy the token “{created.name}” now:</strong> it is not shown again.
          </p>
          <TextField label="New token" name="new_token" readOnly value={created.token} onFocus={(e) => e.currentTarget.select()} />
          <div className="button-row">
            <button type="button" className="button-secondary" onClick={() => void navigator.clipboard?.writeText(created.token)}>
              Copy token
            </button>
            <button type="button" className="button-secondary" onClick={() => setCreated(null)}>
              Done
            </button>
          </div>
        </div>
      )}
      <form onSubmit={onSubmit} noValidate aria-label="New API token">
        <Alert>{errors.formMessage(["name", "scopes", "expires_in_days"])}</Alert>
        <TextField label="Token name" name="name" required value={name} hint="What it is for, e.g. “CI release script”."
          onChange={(e) => { setName(e.target.value); errors.edited("name"); }} error={errors.errorOf("name")} />
        <SelectField label="Access" name="scopes" value={access} options={ACCESS_OPTIONS}
          onChange={(e) => setAccess(e.target.value as TokenScope)} error={errors.errorOf("scopes")} />
        <TextField label="Expires in (days)" name="expires_in_days" type="number" min={1} max={365} required value={expiresIn}
          onChange={(e) => { setExpiresIn(e.target.value); errors.edited("expires_in_days"); }} error={errors.errorOf("expires_in_days")} />
        <button type="submit" disabled={create.pending}>
          {create.pending ? "Creating…" : "Create token"}
        </button>
      </form>
      <Alert>{loadError ?? revoke.message}</Alert>
      {tokens !== null && tokens.length === 0 && <p>No tokens yet.</p>}
      {tokens !== null && tokens.length > 0 && (
        <ul className="token-list" aria-label="Your API tokens">
          {tokens.map((t) => (
            <li key={t.id}>
              <span className="token-name">{t.name}</span>
              <span className="token-meta">
                {ACCESS_LABEL[accessOf(t.scopes)]} · expires {dateOf(t.expires_at)}
                {t.last_used_at ? ` · last used ${dateOf(t.last_used_at)}` : " · never used"}
              </span>
              <button type="button" className="button-danger" disabled={revoke.pending}
                aria-label={`Revoke ${t.name}`} onClick={() => void revoke.run(t.id)}>
                Revoke
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
