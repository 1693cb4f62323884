import { AtomoProvider } from '@atomo-cc/client/react'
import { StrictMode } from 'react'
import { createRoot } from 'react-dom/client'
import { App } from './App'
import { atomo } from './atomo'
import './styles.css'

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <AtomoProvider client={atomo}>
      <App />
    </AtomoProvider>
  </StrictMode>,
)
