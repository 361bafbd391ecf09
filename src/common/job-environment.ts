/**
 * Environment variables that hold the bot's secrets. Slurm exports the submitting environment to
 * the job by default, and build jobs run code from pull requests: these must never reach them,
 * nor any other program the bot starts.
 */
const SECRET_ENV_VARS: readonly string[] = ['GITHUB_APP_SECRET_TOKEN'];

/** This process's environment (or `base`) without the bot's secrets. */
export function environmentWithoutSecrets(
  base: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  const env = { ...base };
  for (const name of SECRET_ENV_VARS) {
    delete env[name];
  }
  return env;
}
