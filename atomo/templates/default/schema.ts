import type { Block } from '@atomo-cc/schema'   // optional: `Block` is built in

export interface Note {
  id: string
  title: string
  body?: Block[]
  pinned: boolean               // @default(false) @index
}

export const schema = {
  models: {
    Note: {
      access: { read: 'authenticated', create: 'authenticated', update: 'authenticated', delete: 'admin' },
      validation: { title: 'required|max:200' },
      ui: { listView: ['title', 'pinned'], displayField: 'title' },
    },
  },
}
export default schema
