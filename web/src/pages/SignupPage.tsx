import { useState, type FormEvent } from "react";
import { Link, Navigate, useNavigate } from "react-router";
import { ApiError } from "../api/errors";
import { useResuming, useServices, useSession } from "../app/ServicesContext";
import { Alert } from "../components/Alert";
import { TextField } from "../components/Field";
import { useAction } from "../components/useAction";
import { usePageTitle } from "../components/usePageTitle";
import { email as emailCheck, maxLength, minLength, required, useFieldErrors, validate } from "../components/validation";

const FIELDS = ["name", "email", "password"] as const;

export default function SignupPage() {
  usePageTitle("Create an account");
  const { api, tokens } = useServices();
  const session = useSession();
  const resuming = useResuming();
  const navigate = useNavigate();
  const [name, setName] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const register = useAction(async () => {
    tokens.setSession(await api.auth.register({ name: name.trim(), email: email.trim(), password }));
    navigate("/boards", { replace: true });
  });
  const taken = register.error instanceof ApiError && register.error.status === 409;
  const errors = useFieldErrors(register, taken ? { email: "An account with this email already exists. Sign in instead, or use another email." } : {});

  if (session) return <Navigate to="/boards" replace />;
  if (resuming) return <p className="loading">Loading…</p>;

  const onSubmit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const problems = validate({ name, email, password }, {
      name: [required("your name"), maxLength(100)],
      email: [emailCheck],
      password: [minLength(8)],
    });
    if (errors.check(e.currentTarget, problems)) void register.run();
  };

  return (
    <section className="auth-page" aria-labelledby="signup-title">
      <h1 id="signup-title">Create an account</h1>
      <Alert>{taken ? null : errors.formMessage(FIELDS)}</Alert>
      <form onSubmit={onSubmit} noValidate>
        <TextField label="Name" name="name" autoComplete="name" required value={name}
          onChange={(e) => { setName(e.target.value); errors.edited("name"); }} error={errors.errorOf("name")} />
        <TextField label="Email" type="email" name="email" autoComplete="email" required value={email}
          onChange={(e) => { setEmail(e.target.value); errors.edited("email"); }} error={errors.errorOf("email")} />
        <TextField label="Password" type="password" name="password" autoComplete="new-password" required
          minLength={8} hint="At least 8 characters." value={password}
          onChange={(e) => { setPassword(e.target.value); errors.edited("password"); }} error={errors.errorOf("password")} />
        <button type="submit" disabled={register.pending}>
          {register.pending ? "Creating account…" : "Create account"}
        </button>
      </form>
      <p>
        Already have an account? <Link to="/login">Sign in</Link>
      </p>
    </section>
  );
}
