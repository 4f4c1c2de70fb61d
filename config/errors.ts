/**
 * Raised when a config file or the environment does not validate: names the file, the path and what is wrong
 * (DESIGN.md principle 12: master data is governed). config/ keeps its own error class so that it imports nothing of
 * the shell; src/errors.ts registers its code (`ERR_CONFIG_INVALID`) with the rest.
 */
export class ConfigError extends Error {
  readonly code = 'ERR_CONFIG_INVALID' as const;
  readonly details: { file: string; path: string; problem: string };
  constructor(file: string, path: string, problem: string) {
    super(`${file}: ${path || '(root)'}: ${problem}`);
    this.name = 'ConfigError';
    this.details = { file, path, problem };
  }
}
