/** The platform itself: what `GET /info` tells a client before it signs in. */
import * as S from '../schemas.ts';
import type { Routes } from './context.ts';

export const platformRoutes: Routes = async (app, { info }) => {
  app.get(
    '/info',
    {
      schema: {
        tags: ['platform'],
        summary: 'Version, the CoAP/CoAPs ports and the DTLS modes (no authentication)',
        security: [],
        response: { 200: S.InfoView },
      },
    },
    async () => info(),
  );
};
