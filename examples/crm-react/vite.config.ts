import react from '@vitejs/plugin-react'
import { defineConfig } from 'vite'

export default defineConfig({
  plugins: [react()],
  // `@atomo-cc/client` is linked from ../../sdk/client-ts, which has its own React for its tests:
  // make sure the app and the hooks share this app's single copy.
  resolve: { dedupe: ['react', 'react-dom'] },
})
