/**
 * The panel's client for the Jupyter server extension (/goldenpath/...), which proxies to the
 * promotion server with the user's token. Every failure is an ApiError {status, code,
 * message, hint}; 404s on optional APIs (approvals, roles) become "not available".
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import {
  GpEvent,
  Me,
  messageOf,
  Promotion,
  Release,
  Service,
  ServiceSummary
} from './model';

export interface ServerInfo {
  server: string;
  reachable: boolean;
  token: boolean;
  user: string;
  message: string;
  hint: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly hint: string = '',
    readonly details: any = null
  ) {
    super(message);
  }
}

const EXTENSION_MISSING =
  'the goldenpath_jupyter server extension is not enabled: install it into the Python that ' +
  'runs JupyterLab (from the goldenpath repository: `.venv/bin/pip install ' +
  '--no-build-isolation ./jupyter_ext`, or `jupyter server extension enable ' +
  'goldenpath_jupyter`) and restart JupyterLab';

export class GoldenpathApi {
  constructor(private readonly settings = ServerConnection.makeSettings()) {}

  async request<T>(path: string, init: RequestInit = {}): Promise<T> {
    const url = URLExt.join(this.settings.baseUrl, 'goldenpath', path);
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(url, init, this.settings);
    } catch (error) {
      throw new ApiError(0, 'jupyter_unreachable', `JupyterLab's server did not answer: ${error}`,
        'check that jupyter lab is still running');
    }
    const text = await response.text();
    let body: any = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = null;
    }
    if (!response.ok) {
      if (response.status === 404 && body === null && path === 'config') {
        throw new ApiError(404, 'extension_missing', EXTENSION_MISSING);
      }
      throw new ApiError(
        response.status,
        body?.code ?? `http_${response.status}`,
        messageOf(body) || `${response.status} ${response.statusText}`,
        body?.hint ?? '',
        body?.details ?? null
      );
    }
    return body as T;
  }

  config(): Promise<ServerInfo> {
    return this.request('config');
  }

  async services(): Promise<ServiceSummary[]> {
    return (await this.request<{ services: ServiceSummary[] }>('api/services')).services;
  }

  service(name: string): Promise<Service> {
    return this.request(`api/services/${encodeURIComponent(name)}`);
  }

  release(id: string): Promise<Release> {
    return this.request(`api/releases/${encodeURIComponent(id)}`);
  }

  async events(after: number, service = '', limit = 200): Promise<GpEvent[]> {
    const query = new URLSearchParams({ after: String(after), limit: String(limit) });
    if (service) {
      query.set('service', service);
    }
    return (await this.request<{ events: GpEvent[] }>(`api/events?${query}`)).events;
  }

  promote(releaseId: string, environment: string): Promise<unknown> {
    return this.post(`api/releases/${encodeURIComponent(releaseId)}/deployments`, {
      environment
    });
  }

  rollback(service: string, environment: string): Promise<unknown> {
    return this.post(`${envPath(service, environment)}/rollback`, {});
  }

  approve(
    releaseId: string,
    environment: string,
    decision: 'approve' | 'reject',
    comment: string
  ): Promise<unknown> {
    return this.post(`api/releases/${encodeURIComponent(releaseId)}/approvals`, {
      environment,
      decision,
      comment
    });
  }

  async logs(service: string, environment: string, tail = 200): Promise<string[]> {
    return (
      await this.request<{ lines: string[] }>(`${envPath(service, environment)}/logs?tail=${tail}`)
    ).lines;
  }

  /** Environment names in promotion order, or null when the server does not publish them. */
  async environments(): Promise<string[] | null> {
    const found = await this.optional<{ environments: { name: string }[] }>('api/environments');
    return found ? found.environments.map(e => e.name) : null;
  }

  /** Promotions (e.g. waiting for approval); [] when the server has no promotions API. */
  async promotions(status = '', service = ''): Promise<Promotion[]> {
    const query = new URLSearchParams();
    if (status) {
      query.set('status', status);
    }
    if (service) {
      query.set('service', service);
    }
    const found = await this.optional<{ promotions: Promotion[] }>(`api/promotions?${query}`);
    return found?.promotions ?? [];
  }

  /** The caller's roles, or null when this server has no roles API (404). */
  async me(): Promise<Me | null> {
    try {
      const me = await this.request<Me>('api/me');
      return me && typeof me.roles === 'object' ? me : null;
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        return null;
      }
      throw error;
    }
  }

  predict(service: string, environment: string, body: unknown): Promise<{ predictions: unknown }> {
    return this.post(
      `predict/${encodeURIComponent(service)}/${encodeURIComponent(environment)}`,
      body
    );
  }

  /** GET an API that older servers lack: null on 404. */
  private async optional<T>(path: string): Promise<T | null> {
    try {
      return await this.request<T>(path);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        return null;
      }
      throw error;
    }
  }

  private post<T>(path: string, body: unknown): Promise<T> {
    return this.request(path, { method: 'POST', body: JSON.stringify(body) });
  }
}

function envPath(service: string, environment: string): string {
  return `api/services/${encodeURIComponent(service)}/environments/${encodeURIComponent(environment)}`;
}
