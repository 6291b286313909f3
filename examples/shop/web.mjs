// The web service: the live shop page, and the tokens its WebSocket connection needs.
//   GET /                          the page (public/index.html)
//   GET /shop.js                   its script (public/shop.js)
//   GET /warren-client.browser.js  the browser client bundle (dist/client/ of the warren package)
//   POST /session                  { userId } -> { userId, name, token }: a user token for the hub
//                                  (signed with WS_AUTH_SECRET, the hub's realtime.authSecret)
//   POST /session/channel-token    { userToken, connectionId, channel } -> { token }: lets that
//                                  connection join presence-shop (signed with WS_CHANNEL_SECRET)
// A real shop would take the user from its own login (a cookie), not from the request body: here
// anyone may be any of the three seed users, which is what a demo wants.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { signChannel, signUserToken, verifyUserToken } from 'warren/realtime';
import { defineService, reply, runService, ServiceClient } from 'warren/service';
import { z } from 'zod';
import { problem } from './data.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
// The browser bundle sits beside the package's client entry.
const BUNDLE = join(dirname(createRequire(import.meta.url).resolve('warren/client')), 'warren-client.browser.js');
/** The one channel this page may join besides the user's own stream. */
const SHOP_CHANNEL = 'presence-shop';

// Read once: the files do not change while the shop runs.
const files = {
  page: readFileSync(join(HERE, 'public/index.html')),
  script: readFileSync(join(HERE, 'public/shop.js')),
  bundle: readFileSync(BUNDLE),
};
const html = { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache' };
const js = { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-cache' };

/** The secrets the hub checks tokens with, or a 503 saying which one to set. */
function secrets() {
  const auth = process.env.WARREN_WS_AUTH_SECRET || process.env.WS_AUTH_SECRET;
  const channel = process.env.WARREN_WS_CHANNEL_SECRET || process.env.WS_CHANNEL_SECRET;
  if (!auth || !channel) {
    return {
      missing: problem(503, 'NO_SECRETS', 'set WS_AUTH_SECRET and WS_CHANNEL_SECRET (16+ characters) for the hub and this service'),
    };
  }
  return { auth, channel };
}

const Session = z.object({ userId: z.string().min(1) });
const ChannelTokenRequest = z.object({ userToken: z.string().min(1), connectionId: z.string().min(1), channel: z.string().min(1) });

const web = defineService({
  name: 'web',
  dependencies: () => {
    const client = new ServiceClient({ name: 'web' });
    return { client, users: client.service('users') };
  },
  onClose: ({ client }) => client.close(),
  routes: {
    'GET /': () => reply(200, files.page, html),
    'GET /shop.js': () => reply(200, files.script, js),
    'GET /warren-client.browser.js': () => reply(200, files.bundle, js),
    'POST /session': {
      schema: { body: Session },
      handler: async ({ body }, { deps, signal }) => {
        const keys = secrets();
        if (keys.missing) return keys.missing;
        const user = await deps.users.get(`/users/${encodeURIComponent(body.userId)}`, { signal });
        if (user.status !== 200) return problem(404, 'USER_NOT_FOUND', `no user with id ${body.userId}`);
        return { userId: user.body.id, name: user.body.name, token: signUserToken(keys.auth, user.body.id) };
      },
    },
    'POST /session/channel-token': {
      schema: { body: ChannelTokenRequest },
      handler: ({ body }) => {
        const keys = secrets();
        if (keys.missing) return keys.missing;
        if (verifyUserToken(keys.auth, body.userToken) === undefined) return problem(401, 'BAD_USER_TOKEN', 'the user token is not valid');
        if (body.channel !== SHOP_CHANNEL) return problem(403, 'CHANNEL_NOT_ALLOWED', `only ${SHOP_CHANNEL} is handed out here`);
        return { token: signChannel(keys.channel, body.connectionId, body.channel) };
      },
    },
  },
});

await runService(web);
