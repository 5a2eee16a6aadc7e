/** `POST …/devices/:cid/rotate`: a PSK device's new key, shown once. */
import { rotatePsk } from '../../psk-rotation.ts';
import { deviceCredentialView } from '../../schema/devices.ts';
import * as S from '../schemas.ts';
import type { Routes } from './context.ts';
import { R } from './resources.ts';

export const pskRotationRoutes: Routes = async (app, { service, caller }) => {
  app.post(
    `${R}/:rid/devices/:cid/rotate`,
    {
      schema: {
        tags: ['devices'],
        summary: "Replace a PSK device's key with a new random one, returned only now",
        params: S.CidParams,
        querystring: S.AuthQuery,
        response: { 201: S.DeviceCredentialCreated, ...S.errors },
      },
    },
    async (req, reply) => {
      const { uid, rid, cid } = req.params;
      const r = await rotatePsk(service, await caller(req), uid, rid, cid);
      return reply.status(201).send({ ...deviceCredentialView(r.credential), psk_key: r.pskKey });
    },
  );
};
