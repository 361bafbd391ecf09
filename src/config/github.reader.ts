import { createPrivateKey } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { GithubConfig } from './app-config.js';
import {
  hasControlCharacter,
  parseHttpUrl,
  type ConfigSectionReader,
} from './config-section.reader.js';
import type { ConfigEntry } from './read-configparser.js';

const DEFAULT_API_URL = 'https://api.github.com';
const PEM_PRIVATE_KEY = /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----/;

export const GITHUB_REQUIRED = ['app_id', 'app_name', 'installation_id', 'private_key'];

export function readGithub(section: ConfigSectionReader): GithubConfig {
  const appId = section.positiveInt('app_id', "the GitHub App's numeric App ID");
  const appNameEntry = section.required(
    'app_name',
    'a short name for this bot instance, shown in PR comments',
  );
  if (
    appNameEntry &&
    (/[<>]/.test(appNameEntry.value) || hasControlCharacter(appNameEntry.value))
  ) {
    // The name goes into the hidden `<!-- bot:job … -->` marker of every job comment.
    section.problem('app_name', appNameEntry, 'must be one line without < or > characters');
  }
  const installationId = section.positiveInt(
    'installation_id',
    'the numeric ID of the App installation on the repository',
  );
  const keyEntry = section.required(
    'private_key',
    'the path of the .pem private key generated for the GitHub App',
  );
  const privateKeyPath = keyEntry ? section.path('private_key', keyEntry) : undefined;
  const privateKey =
    keyEntry && privateKeyPath ? readPrivateKey(section, keyEntry, privateKeyPath) : undefined;

  const apiUrl = readApiUrl(section);
  const secret = section.env.GITHUB_APP_SECRET_TOKEN;
  return {
    appId: appId ?? 0,
    appName: appNameEntry?.value ?? '',
    installationId: installationId ?? 0,
    privateKeyPath: privateKeyPath ?? '',
    privateKey: privateKey ?? '',
    apiUrl,
    ...(secret !== undefined && secret !== '' ? { webhookSecret: secret } : {}),
  };
}

/** GITHUB_API_URL wins over the file, so tests and GHES setups can redirect without editing it. */
function readApiUrl(section: ConfigSectionReader): string {
  const fromEnv = section.env.GITHUB_API_URL;
  if (fromEnv !== undefined && fromEnv !== '') {
    const url = parseHttpUrl(fromEnv);
    if (url === undefined) {
      section.envProblem(
        'GITHUB_API_URL',
        `${JSON.stringify(fromEnv)} is not an http:// or https:// URL`,
      );
    }
    return url ?? DEFAULT_API_URL;
  }
  const entry = section.get('api_url');
  if (!entry || entry.value === '') {
    return DEFAULT_API_URL;
  }
  return section.httpUrl('api_url', entry) ?? DEFAULT_API_URL;
}

function readPrivateKey(
  section: ConfigSectionReader,
  entry: ConfigEntry,
  path: string,
): string | undefined {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    section.problem(
      'private_key',
      entry,
      code === 'ENOENT'
        ? `${path} does not exist; download a private key from the GitHub App's settings page and point private_key at it`
        : `cannot read ${path} (${code}); it must be readable by the user running the bot`,
    );
    return undefined;
  }
  // Never quote the file's content in a message: it may be a real key with a typo around it.
  if (!PEM_PRIVATE_KEY.test(pem)) {
    section.problem(
      'private_key',
      entry,
      `${path} does not contain a PEM private key (a '-----BEGIN RSA PRIVATE KEY-----' block as downloaded from the GitHub App's settings)`,
    );
    return undefined;
  }
  try {
    createPrivateKey(pem);
  } catch (error) {
    section.problem(
      'private_key',
      entry,
      `${path} holds a PEM block that is not a usable private key (${(error as Error).message}); download a new key`,
    );
    return undefined;
  }
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    section.warn(
      'private_key',
      entry,
      `${path} is accessible by group or others (mode ${mode.toString(8).padStart(4, '0')}); run chmod 600 ${path}`,
    );
  }
  return pem;
}
