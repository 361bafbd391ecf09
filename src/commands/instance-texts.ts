import { joinAccelerators } from '../builds/build-request.js';
import { codeSpan } from '../builds/job-comment.js';
import type { AppConfig, NodeType } from '../config/app-config.js';
import { matchesAll, type Filter } from './filters.js';

/**
 * What an instance says about itself: `help` (how to talk to it) and `show_config` (what it
 * builds). Command examples are always inside code spans, never at the start of a line, so the
 * texts can be posted without any bot reading them as commands.
 */
export function renderHelp(config: AppConfig): string {
  const app = codeSpan(config.github.appName);
  const example = (text: string) => codeSpan(`bot: ${text}`);
  const v09 = config.generation === 'v09';
  return [
    `**How to send commands to bot instance ${app}**`,
    '- Write each command on a line of its own in a **new** comment, as `bot: COMMAND [ARGUMENTS]`; edited comments are not read. A comment may hold several commands.',
    `- Add ${codeSpan(`inst:${config.github.appName}`)} to address this instance only; an instance ignores commands whose \`inst:\` does not match its name.`,
    '- Commands:',
    `  - ${example('help')}: this text.`,
    `  - ${example('show_config')}: the node types, CPU subdirs, accelerators and repositories this instance builds for.`,
    v09
      ? `  - ${example('build for:arch=CPU_SUBDIR[,accel=VENDOR/CC] [on:arch=…[,accel=…]] [filters]')}: build jobs; without \`on:\` the build runs on a node of the \`for:\` architecture. Examples: ${example('build for:arch=x86_64/amd/zen4')}, ${example('build for:arch=x86_64/amd/zen4,accel=nvidia/cc90')}, ${example('build for:arch=x86_64/amd/zen4 on:arch=zen3 repo:2023.06')}.`
      : `  - ${example('build …')}: not on this instance, which builds when the \`bot:build\` label is added.`,
    `  - ${example('status [last_build]')}: this pull request's jobs on this instance; \`last_build\` keeps the newest per architecture, accelerator and repository.`,
    `  - ${example('cancel jobid:N[,N…]')}: cancel unfinished jobs of this pull request (their requester, or accounts allowed to build).`,
    `  - ${example('deploy')}: upload the artefacts of this pull request's successful jobs (accounts allowed to deploy).`,
    '- Filters `component:pattern` select what a command acts on; all must match. Components (3 letters are enough): `architecture` (`-` and `/` alike), `accelerator` (`=` and `/` alike), `repository`, `instance`, `job`, and for builds `exportvariable:NAME=value` (only the values this instance allows). Patterns are regular expressions matched anywhere in the value, e.g. ' +
      `${codeSpan('arch:zen4')}, ${codeSpan('repo:2025')}.`,
  ].join('\n');
}

/** `show_config`: node types (filtered by arch, acc, repo filters), or the seed's targets. */
export function renderShowConfig(config: AppConfig, filters: readonly Filter[] = []): string {
  const app = codeSpan(config.github.appName);
  if (config.generation !== 'v09') {
    const targets = Object.keys(config.architectureTargets.archTargetMap);
    return [
      `Instance ${app} builds when the \`bot:build\` label is added, for:`,
      ...targets.map((target) => `- ${codeSpan(target)}`),
    ].join('\n');
  }
  const shown = config.nodeTypes.filter((node) => matchesAll(filters, contextOf(node)));
  if (shown.length === 0) {
    return config.nodeTypes.length === 0
      ? `Instance ${app} has no node types configured.`
      : `Instance ${app} has no node type that the filters select.`;
  }
  const lines = [`Instance ${app} is configured to build on:`];
  for (const node of shown) {
    lines.push(
      `- Node type ${codeSpan(node.name)}:`,
      `  - OS: ${codeSpan(node.os)}`,
      `  - CPU subdir: ${codeSpan(node.cpuSubdir)}`,
      `  - Repositories: ${node.repoTargets.map(codeSpan).join(', ') || '(none)'}`,
      `  - Accelerators: ${node.accel.length > 0 ? codeSpan(joinAccelerators(node.accel)) : 'none'}`,
    );
  }
  return lines.join('\n');
}

function contextOf(node: NodeType) {
  return {
    architecture: node.cpuSubdir,
    accelerator: node.accel,
    repository: node.repoTargets,
  };
}
