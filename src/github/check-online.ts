import type { GitHubAppSettings } from './github-app.settings.js';
import { GitHubClient, type GitHubClientOptions } from './github.client.js';

/**
 * `check-config --online`: proves that app_id, private_key, installation_id and api_url work
 * together by reading the installation and minting a token. Resolves with a sentence for the
 * operator; rejects with a GitHubApiError whose message names the key to fix.
 */
export async function checkOnline(
  app: GitHubAppSettings,
  options: GitHubClientOptions = {},
): Promise<string> {
  // An operator is waiting at the terminal: one retry, not the server's patient back-off.
  const client = new GitHubClient(app, { retries: 1, ...options });
  const installation = await client.getInstallation();
  const { expiresAt } = await client.installationAuth();
  return (
    `GitHub App '${installation.appSlug}' (id ${installation.appId}) installation ` +
    `${installation.id} on account '${installation.account}': token minted, expires ${expiresAt} ` +
    `(api_url ${app.apiUrl})`
  );
}
