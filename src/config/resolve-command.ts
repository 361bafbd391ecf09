import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';

/**
 * Finds the executable a configured command (sbatch, squeue, …) names, the way execvp would:
 * a value with a `/` is a path (relative ones against `baseDir`), a bare name is searched on PATH.
 * Resolving at load time turns "command not found" at the first job into an error at start-up.
 */
export function resolveCommand(
  command: string,
  env: NodeJS.ProcessEnv,
  baseDir: string,
): { path: string } | { error: string } {
  if (command === '') {
    return { error: 'is empty; give the command name or its full path' };
  }
  const argsHint = /\s/.test(command)
    ? ' (this value must be one executable without arguments; put extra sbatch options in [buildenv] slurm_params)'
    : '';

  if (command.includes('/')) {
    const path = isAbsolute(command) ? command : resolve(baseDir, command);
    const problem = executableProblem(path);
    return problem ? { error: `${path} ${problem}${argsHint}` } : { path };
  }

  // Relative PATH entries (`.`, empty) would make the answer depend on the working directory.
  const dirs = (env.PATH ?? '').split(delimiter).filter((dir) => isAbsolute(dir));
  for (const dir of dirs) {
    const path = join(dir, command);
    if (executableProblem(path) === undefined) {
      return { path };
    }
  }
  return {
    error: `'${command}' was not found as an executable on PATH (${dirs.join(delimiter) || 'PATH is empty'}); give its full path${argsHint}`,
  };
}

function executableProblem(path: string): string | undefined {
  let isFile: boolean;
  try {
    isFile = statSync(path).isFile();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR' ? 'does not exist' : `cannot be read (${code})`;
  }
  if (!isFile) {
    return 'is not a regular file';
  }
  try {
    accessSync(path, constants.X_OK);
  } catch {
    return 'is not executable by this user (chmod +x, or check the path)';
  }
  return undefined;
}
