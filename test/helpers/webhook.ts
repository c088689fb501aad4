import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** A request the webhook got, its body read whole. */
export interface HookRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface Webhook {
  /** http://127.0.0.1:<port>/hook */
  url: string;
  port: number;
  /** every request, in the order their bodies arrived */
  requests: HookRequest[];
  /** stops the server, cutting the connections still open (a request never answered, keep-alive sockets) */
  close(): Promise<void>;
}

const answerOk = (_request: HookRequest, res: ServerResponse): void => {
  res.writeHead(200).end();
};

/**
 * A local alert webhook on a free port of 127.0.0.1: each request is recorded, then `answer` replies
 * (200 unless told otherwise; an `answer` that never replies is a hung endpoint).
 */
export async function startWebhook(answer: (request: HookRequest, res: ServerResponse) => void = answerOk): Promise<Webhook> {
  const requests: HookRequest[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const request = { method: req.method!, url: req.url!, headers: req.headers, body };
      requests.push(request);
      answer(request, res);
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/hook`, port, requests,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    }),
  };
}
