// Unit tests sit beside the code they test (provider/**/*.test.ts) and in test/unit;
// integration tests (test/integration) run the product against the stand-ins; engine tests (test/e2e)
// drive the real Pulumi CLI and are slower.
const SLOW = [
  "test/e2e/cli-consumers.test.ts",
  "test/e2e/cli-root.test.ts",
  "test/e2e/cli-faults.test.ts",
  "test/e2e/changefeed-faults.test.ts",
  "test/e2e/cli-identity.test.ts",
];
/** @type {import('jest').Config} */
const common = {
  preset: "ts-jest",
  testEnvironment: "node",
  transform: { "^.+\\.ts$": ["ts-jest", { tsconfig: "tsconfig.json" }] },
};
module.exports = {
  projects: [
    { ...common, displayName: "unit", testMatch: ["<rootDir>/provider/**/*.test.ts", "<rootDir>/test/unit/**/*.test.ts"] },
    { ...common, displayName: "integration", testMatch: ["<rootDir>/test/integration/**/*.test.ts"] },
    // The stand-ins' own tests (stand-ins/, their own package: stand-ins/README.md).
    { ...common, displayName: "stand-ins", testMatch: ["<rootDir>/stand-ins/**/*.test.ts"] },
    { ...common, displayName: "e2e", testMatch: ["<rootDir>/test/e2e/**/*.test.ts"], testPathIgnorePatterns: SLOW },
    // Minutes each: every install mode through the CLI, environment promotion, the fault trials.
    // `npm run test:slow`; CI runs it after `npm test`.
    { ...common, displayName: "slow", testMatch: SLOW.map((f) => `<rootDir>/${f}`) },
  ],
};
