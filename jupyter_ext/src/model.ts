/**
 * The panel's domain logic, free of JupyterLab and React so jest can test it: grouping by
 * environment, ages, roles, policies, events. The wire shapes and the shared rules are not
 * written here: they come from the generated contract (_openapi.d.ts, from docs/openapi.json)
 * and goldenpath_api's rules (_rules.ts); `npm run gen:api` regenerates both.
 */
import type { components } from './_openapi';
import * as rules from './_rules';

export const { WAITING, LIVE } = rules;
/** The path a release takes when the server does not publish its environments. */
export const DEFAULT_ENVIRONMENTS: readonly string[] = rules.DEFAULT_ENVIRONMENTS;

type Schemas = components['schemas'];

/**
 * The fields of contract schema `Name` that the panel reads (`Read`), and those it reads
 * only when present (`Optional`): tsc refuses a field name the contract lacks.
 */
type Wire<
  Name extends keyof Schemas,
  Read extends keyof Schemas[Name],
  Optional extends keyof Schemas[Name] = never
> = Pick<Schemas[Name], Read> & Partial<Pick<Schemas[Name], Optional>>;

/** Contract fields the panel reads with a type of its own (a wider status, the open input
 * schema read as `Schema`); a key the contract lacks is refused. */
type Retyped<
  Name extends keyof Schemas,
  T extends { [K in keyof T]: K extends keyof Schemas[Name] ? unknown : never }
> = T;

type Known = Schemas['Deployment']['status'] | Schemas['Promotion']['status'];
/** A status the contract names, or one a newer server sends (shown as it comes). */
export type Status = Known | (string & {});

export type Deployment = Wire<'Deployment',
  'service' | 'environment' | 'url' | 'message' | 'release_id' | 'release_version' | 'digest' |
  'updated_at', 'previous_release_id' | 'target' | 'strategy' | 'progression'> &
  Retyped<'Deployment', { status: Status }>;

/** One column of a release's input schema (the contract leaves the schema open). */
export interface Column {
  name: string;
  dtype: string;
}

/** How the panel reads a release's input schema (the bundle's, written by the SDK). */
export interface Schema {
  kind: 'dataframe' | 'ndarray' | 'tensor' | string;
  columns?: Column[];
  dtype?: string;
  shape?: (number | null)[];
  json_schema?: unknown;
}

/** What a policy engine reported: read tolerantly by policyViews (names vary by engine). */
export interface PolicyResult {
  policy?: string;
  name?: string;
  passed?: boolean;
  status?: string;
  message?: string;
  hint?: string;
  fix?: string;
}

export type Approval = Wire<'EnvironmentApproval', 'decision' | 'user',
  'comment' | 'environment' | 'at'>;

/** A release as GET /releases/{id} describes it; in a service's detail the governance
 * fields (policy_results, approvals) are absent. */
export type Release = Wire<'ReleaseDetail',
  'id' | 'service' | 'version' | 'kind' | 'digest' | 'size' | 'image' | 'bento_tag' |
  'created_by' | 'created_at', 'approvals'> & Retyped<'ReleaseDetail', {
    schema: Schema | null;
    spec: Record<string, any> | null;
    /** lineage, card (markdown), card_draft, metrics, parity, ... attached to the release */
    evidence?: Record<string, any> | null;
    policy_results?: unknown;
  }>;

export type ServiceSummary = Wire<'ServiceSummary', 'name' | 'kind' | 'team' | 'created_at'> &
  Retyped<'ServiceSummary', { deployments: Deployment[] }>;

export type Service = ServiceSummary & Retyped<'ServiceDetail', { releases: Release[] }>;

/** An audit event (GET /events, and each message of the event stream). */
export type GpEvent = Wire<'Event',
  'id' | 'at' | 'service' | 'environment' | 'release_id' | 'type' | 'message' | 'data', 'seq'>;

/** A request to put a release into an environment (GET /api/v1/promotions). */
export type Promotion = Wire<'Promotion',
  'id' | 'service' | 'release_id' | 'release_version' | 'environment' | 'requested_by' |
  'required_approvals' | 'created_at', 'policy_outcome' | 'decided_at'> &
  Retyped<'Promotion', { status: Status; approvals: Approval[]; policy_results?: unknown }>;

/** GET /api/v1/me; null when the server has no roles API (then nothing is hidden by role). */
export type Me = Wire<'Me', 'user'> & Retyped<'Me', { roles: Record<string, string> }>;

export const STATUS_LABELS: Partial<Record<Known, string>> = {
  [rules.ROLLING_OUT]: 'rolling out',
  [rules.WAITING]: 'waiting for approval'
};

export function statusLabel(status: Status): string {
  return STATUS_LABELS[status as Known] ?? String(status).replace(/_/g, ' ');
}

/** Environments in promotion order: the known ones first, then any others seen. */
export function environmentsOf(
  services: ServiceSummary[],
  known: readonly string[] = DEFAULT_ENVIRONMENTS
): string[] {
  const seen = new Set<string>();
  for (const s of services) {
    for (const d of s.deployments) {
      seen.add(d.environment);
    }
  }
  const extra = [...seen].filter(e => !known.includes(e)).sort();
  return [...known, ...extra];
}

/** One line of the list: a deployment, or a promotion waiting for approval. */
export interface Row {
  service: ServiceSummary;
  environment: string;
  version: number;
  status: Status;
  url: string;
  updated: string;
  promotion?: Promotion;
}

export interface EnvironmentGroup {
  environment: string;
  rows: Row[];
}

/** Services grouped by environment (promotion order), empty environments left out. */
export function groupByEnvironment(
  services: ServiceSummary[],
  known: readonly string[] = DEFAULT_ENVIRONMENTS,
  waiting: Promotion[] = []
): EnvironmentGroup[] {
  const byName = new Map(services.map(s => [s.name, s]));
  const rows: Row[] = [
    ...services.flatMap(service =>
      service.deployments.map(d => ({
        service,
        environment: d.environment,
        version: d.release_version,
        status: d.status,
        url: d.url,
        updated: d.updated_at
      }))
    ),
    ...waiting
      .filter(p => p.status === WAITING && byName.has(p.service))
      .map(p => ({
        service: byName.get(p.service)!,
        environment: p.environment,
        version: p.release_version,
        status: p.status,
        url: '',
        updated: p.created_at,
        promotion: p
      }))
  ];
  const order = environmentsOf(services, known);
  for (const r of rows) {
    if (!order.includes(r.environment)) {
      order.push(r.environment);
    }
  }
  return order
    .map(environment => ({
      environment,
      rows: rows
        .filter(r => r.environment === environment)
        .sort((a, b) => a.service.name.localeCompare(b.service.name) || a.version - b.version)
    }))
    .filter(g => g.rows.length > 0);
}

/** The server writes naive UTC timestamps; read them as UTC. */
export function parseTime(iso: string): number {
  if (!iso) {
    return NaN;
  }
  const hasZone = /([zZ]|[+-]\d\d:?\d\d)$/.test(iso);
  return Date.parse(hasZone ? iso : `${iso}Z`);
}

/** "12s", "5m", "3h", "2d" since `iso`. */
export function age(iso: string, now: number = Date.now()): string {
  const t = parseTime(iso);
  if (Number.isNaN(t)) {
    return '';
  }
  const s = Math.max(0, Math.floor((now - t) / 1000));
  if (s < 60) {
    return `${s}s`;
  }
  if (s < 3600) {
    return `${Math.floor(s / 60)}m`;
  }
  if (s < 86400) {
    return `${Math.floor(s / 3600)}h`;
  }
  return `${Math.floor(s / 86400)}d`;
}

/** The environment after `env` in promotion order, or '' at the end of the path. */
export function nextEnvironment(
  env: string,
  order: readonly string[] = DEFAULT_ENVIRONMENTS
): string {
  const i = order.indexOf(env);
  return i >= 0 && i + 1 < order.length ? order[i + 1] : '';
}

export type Action = 'promote' | 'rollback' | 'approve' | 'deploy';

/** The server's roles, lowest first (goldenpath_api's ladder; tsc checks each is one the
 * contract's Grant.role names); a higher role can do what a lower one can. */
type Role = Schemas['Grant']['role'];
export const ROLES: readonly Role[] = rules.ROLES;
const NEEDS: Record<Action, Role> = {
  deploy: 'submitter',
  promote: 'submitter',
  rollback: 'submitter',
  approve: 'approver'
};

function rank(role: string | undefined): number {
  return role ? ROLES.indexOf(role as Role) + 1 : 0;
}

/**
 * Whether the user may do `action` on a service of `team` (their best role in that team or
 * in `*`). With no roles API (me === null) nothing is hidden by role: the server decides;
 * approvals are hidden separately while the approvals API answers 404.
 */
export function allowed(me: Me | null, team: string, action: Action): boolean {
  if (!me || typeof me.roles !== 'object' || me.roles === null) {
    return true;
  }
  const best = Math.max(rank(me.roles[team]), rank(me.roles[rules.ANY_TEAM]));
  return best >= rank(NEEDS[action]);
}

export interface PolicyView {
  name: string;
  passed: boolean;
  message: string;
  fix: string;
  environment: string;
  action: string;
}

type RawPolicy = PolicyResult & { environment?: string; action?: string };

/** The server may send a list of results, {environment, outcome, results}, or a list of those. */
function flattenPolicies(raw: unknown, environment = ''): RawPolicy[] {
  if (!raw || typeof raw !== 'object') {
    return [];
  }
  if (Array.isArray(raw)) {
    return raw.flatMap(r => flattenPolicies(r, environment));
  }
  const obj = raw as Record<string, any>;
  if (Array.isArray(obj.results)) {
    return flattenPolicies(obj.results, obj.environment ?? environment);
  }
  if ('passed' in obj || 'status' in obj || 'policy' in obj || 'name' in obj) {
    return [{ environment, ...obj }];
  }
  return Object.entries(obj).flatMap(([env, v]) => flattenPolicies(v, env));
}

/** Policy results, tolerant of the shapes and field names a policy engine may use. */
export function policyViews(release: Release): PolicyView[] {
  return flattenPolicies(release.policy_results).map(p => {
    const status = (p.status ?? '').toLowerCase();
    const passed = p.passed ?? ['pass', 'passed', 'ok', 'allow', 'allowed'].includes(status);
    return {
      name: p.policy ?? p.name ?? 'policy',
      passed,
      message: p.message ?? '',
      fix: p.fix ?? p.hint ?? '',
      environment: p.environment ?? '',
      action: p.action ?? ''
    };
  });
}

/** Lineage and model-card facts found in a release's spec, as label/value pairs. */
export function lineageOf(release: Release): [string, string][] {
  const spec = release.spec ?? {};
  const evidence = release.evidence ?? {};
  const out: [string, string][] = [];
  const text = (v: unknown) => {
    const t = typeof v === 'string' ? v : JSON.stringify(v);
    return t.length > 200 ? `${t.slice(0, 199)}…` : t;
  };
  const add = (prefix: string, obj: unknown) => {
    if (obj && typeof obj === 'object' && !Array.isArray(obj)) {
      for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
        out.push([`${prefix}${k}`, text(v)]);
      }
    } else if (obj !== undefined && obj !== null && obj !== '') {
      out.push([prefix.replace(/\.$/, ''), text(obj)]);
    }
  };
  add('', evidence.lineage);
  add('metrics.', evidence.metrics);
  add('', spec.lineage);
  add('model card.', spec.model_card);
  add('labels.', spec.labels);
  if (Array.isArray(spec.models) && spec.models.length) {
    out.push(['models', spec.models.join(', ')]);
  }
  return out;
}

/** The release's model card (markdown text), or its draft, or ''. */
export function modelCard(release: Release): string {
  const evidence = release.evidence ?? {};
  const card = evidence.card || evidence.card_draft || release.spec?.model_card;
  return typeof card === 'string' ? card : '';
}

/** The newest events first, at most `limit`, for one service. */
export function recentEvents(events: GpEvent[], service: string, limit = 15): GpEvent[] {
  return events
    .filter(e => e.service === service)
    .sort((a, b) => b.id - a.id)
    .slice(0, limit);
}

/** Append new events to a bounded history (ids are increasing). */
export function mergeEvents(old: GpEvent[], fresh: GpEvent[], keep = 500): GpEvent[] {
  const ids = new Set(old.map(e => e.id));
  return [...old, ...fresh.filter(e => !ids.has(e.id))].slice(-keep);
}

export function shortDigest(digest: string): string {
  return digest ? digest.replace(/^sha256:/, '').slice(0, 12) : '';
}

/** The readable message of an error body (ours, FastAPI's `detail`, or BentoML's `error`). */
// eslint-disable-next-line @typescript-eslint/explicit-module-boundary-types
export function messageOf(body: any): string {
  if (!body) {
    return '';
  }
  if (typeof body === 'string') {
    return body;
  }
  if (Array.isArray(body)) {
    return body.map(messageOf).join('; ');
  }
  if (typeof body.message === 'string') {
    return body.message;
  }
  if (typeof body.error === 'string') {
    return body.error;
  }
  if (body.detail !== undefined) {
    return typeof body.detail === 'string' ? body.detail : JSON.stringify(body.detail);
  }
  return JSON.stringify(body);
}
