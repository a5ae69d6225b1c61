// The project's tests run on the Node it provisions (the `node` devDependency), not the system's.
test("tests run on Node 24", () => {
  expect(Number(process.versions.node.split(".")[0])).toBe(24);
});
