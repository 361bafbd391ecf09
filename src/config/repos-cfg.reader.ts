import { existsSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, normalize } from 'node:path';
import type { NodeType, RepoTarget, RepoTargetsConfig } from './app-config.js';
import { closest } from './config-keys.js';
import { ConfigReadContext, type ConfigSectionReader } from './config-section.reader.js';
import { readConfigParser } from './read-configparser.js';

/**
 * Reads `[repo_targets] repos_cfg_dir` (v0.9 format) and the `repos.cfg` in it: one section per
 * repository id with `repo_name`, `repo_version`, `config_map` (JSON: file in repos_cfg_dir → the
 * path it stands for in the build container) and `container`. The directory is copied into each
 * job's `cfg/`, where the target repository's `bot/build.sh` reads it.
 */

/** Repository ids that need no section: the build container's own default repository. */
export const BUILT_IN_REPO_IDS: readonly string[] = ['EESSI', 'EESSI-pilot'];
const REPOS_CFG = 'repos.cfg';
const REPO_KEYS = ['repo_name', 'repo_version', 'config_map', 'container'];
// config_bundle: an older upstream key (a tarball instead of config_map), accepted and unused.
const IGNORED_REPO_KEYS = ['config_bundle'];
const REPO_ID = /^[A-Za-z0-9._-]+$/;
const CONFIG_MAP_EXAMPLE = '{"eessi.io.pub": "/etc/cvmfs/keys/eessi.io/eessi.io.pub"}';

/**
 * `architectureTargets` is the [architecturetargets] reader: repository ids that repos.cfg lacks
 * are reported at node_type_map, where they are named.
 */
export function readRepoTargets(
  context: ConfigReadContext,
  section: ConfigSectionReader,
  architectureTargets: ConfigSectionReader,
  nodeTypes: readonly NodeType[],
): RepoTargetsConfig {
  const retired = section.get('repo_target_map');
  if (retired) {
    section.warn(
      'repo_target_map',
      retired,
      'is no longer used with node_type_map (v0.9 format): list each node type\'s repositories in its "repo_targets"',
    );
  }
  const reposCfgDir = readReposCfgDir(section);
  const repos = reposCfgDir === undefined ? {} : readReposCfg(context, reposCfgDir);
  warnAboutUnknownRepoIds(architectureTargets, nodeTypes, repos, reposCfgDir);
  return { ...(reposCfgDir !== undefined ? { reposCfgDir } : {}), repos };
}

function readReposCfgDir(section: ConfigSectionReader): string | undefined {
  const entry = section.get('repos_cfg_dir');
  if (!entry || entry.value === '') {
    return undefined;
  }
  const dir = section.path('repos_cfg_dir', entry);
  if (dir === undefined) {
    return undefined;
  }
  let problem: string | undefined;
  try {
    if (!statSync(dir).isDirectory()) {
      problem = `${dir} is not a directory`;
    } else if (!existsSync(join(dir, REPOS_CFG))) {
      problem = `${join(dir, REPOS_CFG)} does not exist; the directory must hold a repos.cfg with one [repo id] section per repository`;
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    problem =
      code === 'ENOENT' ? `${dir} does not exist` : `cannot read ${dir} (${code ?? 'error'})`;
  }
  if (problem === undefined) {
    return dir;
  }
  section.problem('repos_cfg_dir', entry, problem);
  return undefined;
}

/** repos.cfg in the same configparser dialect; its problems name repos.cfg and its lines. */
function readReposCfg(context: ConfigReadContext, dir: string): Record<string, RepoTarget> {
  const path = join(dir, REPOS_CFG);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    context.problems.push(
      `${path}: cannot read the file (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
    );
    return {};
  }
  const parsed = readConfigParser(text, path);
  const reposContext = new ConfigReadContext(parsed, path, dir, context.env);
  reposContext.problems.push(...parsed.errors);
  reposContext.warnings.push(...parsed.warnings);

  const pairs: [string, RepoTarget][] = [];
  for (const [id, raw] of parsed.sections) {
    const section = reposContext.section(id, []);
    if (!REPO_ID.test(id) || id === '.' || id === '..') {
      reposContext.problems.push(
        `${path}:${raw.line}: [${id}] the repository id may only contain letters, digits, '.', '_' and '-' (it names a job directory)`,
      );
      continue;
    }
    for (const [key, entry] of raw.entries) {
      if (REPO_KEYS.includes(key) || IGNORED_REPO_KEYS.includes(key)) {
        continue;
      }
      const hint = closest(key, REPO_KEYS);
      section.warn(key, entry, `unknown key ${hint ? `(did you mean '${hint}'?)` : '(ignored)'}`);
    }
    const repoName = section.required(
      'repo_name',
      'the CernVM-FS repository, e.g. software.eessi.io',
    );
    const repoVersion = section.required('repo_version', 'the version to build for, e.g. 2023.06');
    const container = section.string('container', '');
    pairs.push([
      id,
      {
        id,
        ...(repoName ? { repoName: repoName.value } : {}),
        ...(repoVersion ? { repoVersion: repoVersion.value } : {}),
        ...(container !== '' ? { container } : {}),
        configMap: readConfigMap(section, dir),
      },
    ]);
  }
  context.problems.push(...reposContext.problems);
  context.warnings.push(...reposContext.warnings);
  // fromEntries: a repo id like __proto__ stays data.
  return Object.fromEntries(pairs);
}

function readConfigMap(section: ConfigSectionReader, dir: string): Record<string, string> {
  const entry = section.get('config_map');
  if (!entry || entry.value === '') {
    return {};
  }
  const map = section.jsonStringMap('config_map', entry, CONFIG_MAP_EXAMPLE);
  if (map === undefined) {
    return {};
  }
  for (const [file, target] of Object.entries(map)) {
    if (isAbsolute(file) || normalize(file).startsWith('..')) {
      section.problem(
        'config_map',
        entry,
        `${JSON.stringify(file)} must be a file inside repos_cfg_dir, given relative to it`,
      );
    } else if (!existsSync(join(dir, file))) {
      section.warn('config_map', entry, `${join(dir, file)} does not exist`);
    }
    if (!isAbsolute(target)) {
      section.problem(
        'config_map',
        entry,
        `${JSON.stringify(target)} (for ${JSON.stringify(file)}) must be an absolute path in the build container`,
      );
    }
  }
  return map;
}

function warnAboutUnknownRepoIds(
  section: ConfigSectionReader,
  nodeTypes: readonly NodeType[],
  repos: Readonly<Record<string, RepoTarget>>,
  reposCfgDir: string | undefined,
): void {
  const known = Object.keys(repos);
  const reported = new Set<string>();
  for (const nodeType of nodeTypes) {
    for (const id of nodeType.repoTargets) {
      if (BUILT_IN_REPO_IDS.includes(id) || Object.hasOwn(repos, id) || reported.has(id)) {
        continue;
      }
      reported.add(id);
      const hint = closest(id, known);
      const where =
        reposCfgDir === undefined
          ? 'no [repo_targets] repos_cfg_dir is set'
          : `${join(reposCfgDir, REPOS_CFG)} has no [${id}] section${hint ? ` (did you mean '${hint}'?)` : ''}`;
      section.warn(
        'node_type_map',
        section.get('node_type_map'),
        `repository ${JSON.stringify(id)} of node type ${JSON.stringify(nodeType.name)}: ${where}; its jobs use the build container's default repository`,
      );
    }
  }
}
