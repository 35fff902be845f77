// The module rules of lib/ (docs/design.md "Module rules"), checked by
// `npm run check:modules` in `npm test` and so in .ci/run. Each rule's
// comment says what it protects; test/module-rules.test.ts plants a
// violation of each in a copy of lib/ and expects this check to fail.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      comment: 'No import cycle, type-only imports included: every folder and file has a level.',
      severity: 'error',
      from: { path: '^lib/' },
      to: { circular: true },
    },
    {
      name: 'addon-only-in-engine',
      comment:
        'Only lib/engine/load.ts loads the native addon; everything else reaches it through load.ts.',
      severity: 'error',
      from: { path: '^lib/', pathNot: '^lib/engine/load\\.ts$' },
      to: { path: '(^|/)node_modules/node-gyp-build/|\\.node$' },
    },
    {
      name: 'engines-use-the-contract-not-the-loader',
      comment:
        'The engines (lib/engine/js/) and the contract import lib/engine/contract.ts and each other, never the loader or anything outside lib/engine/.',
      severity: 'error',
      from: { path: '^lib/engine/(js/|contract\\.ts)' },
      to: { path: '^lib/', pathNot: '^lib/engine/(js/|contract\\.ts)' },
    },
    {
      name: 'engine-is-the-bottom',
      comment: 'lib/engine/ imports nothing of lib/ outside itself.',
      severity: 'error',
      from: { path: '^lib/engine/' },
      to: { path: '^lib/', pathNot: '^lib/engine/' },
    },
    {
      name: 'format-is-below-the-sides',
      comment:
        'lib/format/ (wire constants, checksums, framers, errors, argument checks) imports only lib/engine/ and itself.',
      severity: 'error',
      from: { path: '^lib/format/' },
      to: { path: '^lib/', pathNot: '^lib/(engine|format)/' },
    },
    {
      name: 'write-never-reaches-read',
      comment:
        'The write side (lib/write/, lib/sinks/, lib/capture/) never imports the read side, directly or through anything else; recovery on open goes through lib/format/recovery.ts.',
      severity: 'error',
      from: { path: '^lib/(write|sinks|capture)/' },
      to: { path: '^lib/read/', reachable: true },
    },
    {
      name: 'read-never-reaches-write',
      comment: 'The read side never imports the write side, the sinks or the capture.',
      severity: 'error',
      from: { path: '^lib/read/' },
      to: { path: '^lib/(write|sinks|capture)/', reachable: true },
    },
    {
      name: 'sinks-below-writer-and-capture',
      comment:
        'lib/sinks/ (the slab protocol and the plain sinks) imports lib/format/ and lib/engine/ only; the writer and the capture build on it.',
      severity: 'error',
      from: { path: '^lib/sinks/' },
      to: { path: '^lib/(write|capture)/' },
    },
    {
      name: 'writer-and-capture-apart',
      comment:
        'StreamWriter and CaptureSink meet only through the slab protocol in lib/sinks/; neither imports the other.',
      severity: 'error',
      from: { path: '^lib/(write|capture)/' },
      to: { path: '^lib/(write|capture)/', pathNot: '^lib/$1/' },
    },
    {
      name: 'codec-on-format-and-engine',
      comment:
        'The schema-compiled codecs (lib/codec/) import only lib/format/ and lib/engine/ (and themselves); they meet the writer and the reader through lib/format/encoder.ts and lib/format/decoder.ts.',
      severity: 'error',
      from: { path: '^lib/codec/' },
      to: { path: '^lib/', pathNot: '^lib/(codec|format|engine)/' },
    },
    {
      name: 'nothing-below-imports-codec',
      comment:
        'Only the facade (and the CLI) import lib/codec/: the sides and the layers below know the seams, not the codecs.',
      severity: 'error',
      from: { path: '^lib/', pathNot: '^lib/(codec/|cli/|index\\.ts$)' },
      to: { path: '^lib/codec/' },
    },
    {
      name: 'cli-on-codec-and-read',
      comment:
        'The command line (lib/cli/) imports lib/codec/, lib/read/, lib/ship/, lib/format/ and lib/engine/ only (it reads and ships streams; it writes none): never the writer, the sinks or the capture; nothing imports it.',
      severity: 'error',
      from: { path: '^lib/cli/' },
      to: { path: '^lib/', pathNot: '^lib/(cli|codec|read|ship|format|engine)/' },
    },
    {
      name: 'ship-on-read-and-sinks',
      comment:
        'Shipping (lib/ship/) builds on the read side (follow mode), the sink protocol, lib/format/ and lib/engine/: never the writer or the capture.',
      severity: 'error',
      from: { path: '^lib/ship/' },
      to: { path: '^lib/', pathNot: '^lib/(ship|read|sinks|format|engine)/' },
    },
    {
      name: 'only-facade-and-cli-import-ship',
      comment:
        'lib/ship/ is the top of the library (it pulls in the NATS client): only lib/index.ts and lib/cli/ import it.',
      severity: 'error',
      from: { path: '^lib/', pathNot: '^lib/(ship/|cli/|index\\.ts$)' },
      to: { path: '^lib/ship/' },
    },
    {
      name: 'nothing-imports-cli',
      comment: 'lib/cli/ is an entry point (package.json bin), never a dependency.',
      severity: 'error',
      from: { path: '^lib/', pathNot: '^lib/cli/' },
      to: { path: '^lib/cli/' },
    },
    {
      name: 'only-index-is-the-facade',
      comment: 'Nothing inside lib/ imports the public entry point lib/index.ts.',
      severity: 'error',
      from: { path: '^lib/', pathNot: '^lib/index\\.ts$' },
      to: { path: '^lib/index\\.ts$' },
    },
    {
      name: 'no-test-or-bench-in-lib',
      comment: 'The library never imports tests, benches or scripts.',
      severity: 'error',
      from: { path: '^lib/' },
      to: { path: '^(test|bench|scripts|examples)/' },
    },
    {
      name: 'no-unresolvable',
      comment: 'Every import resolves (a typo is not a silent external).',
      severity: 'error',
      from: { path: '^lib/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    // exportsFields/conditionNames: packages that declare only "exports"
    // (@nats-io/jetstream) resolve as Node resolves them for lib/'s CommonJS.
    enhancedResolveOptions: {
      extensions: ['.ts', '.js', '.json', '.node'],
      exportsFields: ['exports'],
      conditionNames: ['require', 'node', 'default'],
    },
  },
};
