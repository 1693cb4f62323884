import { AtomoError, type AuthUser } from '@atomo-cc/client'
import { useEffect, useState, type FormEvent } from 'react'
import { apiUrl, atomo, useModelChanges, useMutation, useRecords } from './atomo'

export function App() {
  const [user, setUser] = useState<AuthUser | null>(null)
  // a token kept from an earlier visit: ask the server whose it is before showing the login form
  const [restoring, setRestoring] = useState(() => atomo.tokens() !== null)

  useEffect(() => {
    if (!restoring) return
    atomo.auth.me().then(setUser, () => undefined).finally(() => setRestoring(false))
  }, [restoring])

  if (restoring) return <p className="muted">Loading…</p>
  if (!user) return <LoginForm onLogin={setUser} />
  return <ContactsPage user={user} onLogout={() => void atomo.auth.logout().finally(() => setUser(null))} />
}

function LoginForm({ onLogin }: { onLogin: (user: AuthUser) => void }) {
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<string | null>(null)

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault()
    const fields = new FormData(event.currentTarget)
    setBusy(true)
    setError(null)
    try {
      onLogin(await atomo.auth.login(String(fields.get('email')), String(fields.get('password'))))
    } catch (e) {
      setError(e instanceof AtomoError ? e.message : String(e))     // e.g. 'invalid email or password'
      setBusy(false)
    }
  }

  return (
    <form className="card login" data-testid="login-form" onSubmit={submit}>
      <h1>Atomo CRM</h1>
      <p className="muted">Server: {apiUrl}</p>
      <label>
        Email
        <input name="email" type="email" autoComplete="username" required data-testid="login-email" />
      </label>
      <label>
        Password
        <input name="password" type="password" autoComplete="current-password" required data-testid="login-password" />
      </label>
      <button type="submit" disabled={busy} data-testid="login-submit">Log in</button>
      {error && <p className="error" role="alert" data-testid="login-error">{error}</p>}
    </form>
  )
}

function ContactsPage({ user, onLogout }: { user: AuthUser; onLogout: () => void }) {
  // kept current by the client's cache: a change made by anyone else refetches this list
  const { data, loading, error } = useRecords('Contact', { orderBy: { createdAt: 'desc' }, limit: 50 })
  const contacts = data ?? []
  // the same events, for a component of your own (here: a status line)
  const [lastChange, setLastChange] = useState<string | null>(null)
  useModelChanges('Contact', (event) => {
    const who = event.eventType === 'CREATED' || event.eventType === 'UPDATED' ? ` ${event.data.firstName} ${event.data.lastName}` : ''
    setLastChange(`${event.eventType.toLowerCase()}${who}`)
  })

  return (
    <main className="card">
      <header>
        <h1>Contacts</h1>
        <span className="muted" data-testid="current-user">{user.email}</span>
        <button type="button" onClick={onLogout}>Log out</button>
      </header>
      <NewContactForm />
      {error && <p className="error" role="alert">{error.message}</p>}
      {loading && !data ? (
        <p className="muted">Loading…</p>
      ) : (
        <ul className="contacts" data-testid="contact-list">
          {contacts.map((contact) => (
            <li key={contact.id} data-testid="contact">
              <strong>{contact.firstName} {contact.lastName}</strong>
              {contact.email && <span className="muted">{contact.email}</span>}
            </li>
          ))}
          {contacts.length === 0 && <li className="muted">No contacts yet.</li>}
        </ul>
      )}
      <footer className="muted" data-testid="last-change">{lastChange ? `Last change: ${lastChange}` : 'Live: waiting for changes'}</footer>
    </main>
  )
}

function NewContactForm() {
  // `mutate` never rejects: it resolves to the new record, or to undefined with the reason in `error`
  const { mutate: createContact, loading, error } = useMutation('Contact', 'create')

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault()
    const form = event.currentTarget
    const fields = new FormData(form)
    const email = String(fields.get('email'))
    const created = await createContact({
      firstName: String(fields.get('firstName')),
      lastName: String(fields.get('lastName')),
      ...(email ? { email } : {}),
    })
    if (created) form.reset()
  }

  return (
    <form className="new-contact" data-testid="contact-form" onSubmit={submit}>
      <input name="firstName" placeholder="First name" required data-testid="contact-first-name" />
      <input name="lastName" placeholder="Last name" required data-testid="contact-last-name" />
      <input name="email" type="email" placeholder="Email (optional)" data-testid="contact-email" />
      <button type="submit" disabled={loading} data-testid="contact-submit">Add contact</button>
      {error && <p className="error" role="alert" data-testid="contact-error">{error.message}</p>}
    </form>
  )
}
