import { useState, type FormEvent } from "react";
import { Link, Navigate, useLocation, useNavigate } from "react-router";
import { ApiError } from "../api/errors";
import { useResuming, useServices, useSession } from "../app/ServicesContext";
import { Alert } from "../components/Alert";
import { TextField } from "../components/Field";
import { useAction } from "../components/useAction";
import { usePageTitle } from "../components/usePageTitle";
import { email as emailCheck, required, useFieldErrors, validate } from "../components/validation";

const FIELDS = ["email", "password"] as const;

export default function LoginPage() {
  usePageTitle("Sign in");
  const { api, tokens } = useServices();
  const session = useSession();
  const resuming = useResuming();
  const navigate = useNavigate();
  const location = useLocation();
  const from = (location.state as { from?: string } | null)?.from ?? "/boards";
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const login = useAction(async () => {
    tokens.setSession(await api.auth.login({ email: email.trim(), password }));
    navigate(from, { replace: true });
  });
  const errors = useFieldErrors(login);
  const refused = login.error instanceof ApiError && login.error.status === 401;

  if (session) return <Navigate to={from} replace />;
  if (resuming) return <p className="loading">Loading…</p>;

  const onSubmit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const problems = validate({ email, password }, { email: [emailCheck], password: [required("your password")] });
    if (errors.check(e.currentTarget, problems)) void login.run();
  };

  return (
    <section className="auth-page" aria-labelledby="login-title">
      <h1 id="login-title">Sign in</h1>
      {tokens.endedBecause === "deleted" && !login.error && <Alert kind="success">Your account was deleted.</Alert>}
      {tokens.endedBecause === "expired" && !login.error && (
        <Alert kind="info">Your session has ended. Please sign in again.</Alert>
      )}
      <Alert>{refused ? "That email and password don't match an account. Check them and try again." : errors.formMessage(FIELDS)}</Alert>
      <form onSubmit={onSubmit} noValidate>
        <TextField label="Email" type="email" name="email" autoComplete="email" required value={email}
          onChange={(e) => { setEmail(e.target.value); errors.edited("email"); }} error={errors.errorOf("email")} />
        <TextField label="Password" type="password" name="password" autoComplete="current-password" required
          value={password} onChange={(e) => { setPassword(e.target.value); errors.edited("password"); }}
          error={errors.errorOf("password")} />
        <button type="submit" disabled={login.pending}>
          {login.pending ? "Signing in…" : "Sign in"}
        </button>
      </form>
      <p>
        New to TaskFlow? <Link to="/signup">Create an account</Link>
      </p>
    </section>
  );
}
