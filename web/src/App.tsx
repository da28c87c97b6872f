import { lazy } from "react";
import { createBrowserRouter, Navigate, RouterProvider } from "react-router";
import { RequireAuth } from "./auth/RequireAuth";
import { Layout } from "./components/Layout";

const LoginPage = lazy(() => import("./pages/LoginPage"));
const SignupPage = lazy(() => import("./pages/SignupPage"));
const BoardsPage = lazy(() => import("./pages/BoardsPage"));
const BoardPage = lazy(() => import("./pages/BoardPage"));
const ProfilePage = lazy(() => import("./pages/ProfilePage"));
const SearchPage = lazy(() => import("./pages/SearchPage"));
const NotFoundPage = lazy(() => import("./pages/NotFoundPage"));

const router = createBrowserRouter([
  {
    element: <Layout />,
    children: [
      { path: "/", element: <Navigate to="/boards" replace /> },
      { path: "/login", element: <LoginPage /> },
      { path: "/signup", element: <SignupPage /> },
      { path: "/boards", element: <RequireAuth><BoardsPage /></RequireAuth> },
      { path: "/boards/:boardId", element: <RequireAuth><BoardPage /></RequireAuth> },
      { path: "/boards/:boardId/tasks/:taskId", element: <RequireAuth><BoardPage /></RequireAuth> },
      { path: "/profile", element: <RequireAuth><ProfilePage /></RequireAuth> },
      { path: "/search", element: <RequireAuth><SearchPage /></RequireAuth> },
      { path: "*", element: <NotFoundPage /> },
    ],
  },
]);

export function App() {
  return <RouterProvider router={router} />;
}
