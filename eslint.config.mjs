// `npm run lint`: the rules that catch what the compiler does not, for code where a lost promise or a
// loose comparison silently drops an event: every promise awaited or explicitly `void`ed, no promise
// where a boolean or callback result is expected, `===` (null checks aside), const where nothing
// reassigns. Formatting is prettier's (`npm run format`).
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: ["dist/**", "node_modules/**", ".work/**", ".cache/**", "pulumi-home/**", "stand-ins/conformance/**", "examples/with-pulumi-gcp/**", "**/*.d.ts"],
  },
  {
    files: ["**/*.ts"],
    extends: [tseslint.configs.base],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": ["error", { checksVoidReturn: false }],
      "@typescript-eslint/await-thenable": "error",
      eqeqeq: ["error", "smart"],
      "prefer-const": "error",
      "no-var": "error",
      "no-fallthrough": "error",
      "no-self-compare": "error",
      "no-unsafe-finally": "error",
    },
  },
  {
    files: ["**/*.js", "**/*.mjs"],
    extends: [js.configs.recommended],
    languageOptions: { globals: { require: "readonly", module: "writable", process: "readonly", __dirname: "readonly", console: "readonly" } },
  },
);
