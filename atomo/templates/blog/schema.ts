import type { Block } from '@atomo-cc/schema'   // optional: `Block` is built in

export enum PostStatus { Draft = 'draft', Published = 'published', Archived = 'archived' }

export interface Author {
  id: string
  name: string
  email: string                 // unique because of its name
  bio?: string
  userId?: string               // @index
}

export interface Category {
  id: string
  name: string                  // @unique
  slug: string                  // @unique
  description?: string
}

export interface Post {
  id: string
  title: string
  slug: string                  // @unique
  status: PostStatus            // @default('draft') @index
  authorId: string
  categoryId?: string
  excerpt?: string
  body?: Block[]
  tags?: string[]
  publishedAt?: Date
  // @@index([status, publishedAt])
}

export interface Comment {
  id: string
  postId: string
  authorName: string
  body: string
  approved: boolean             // @default(false)
}

export const schema = {
  models: {
    Author: {
      access: { read: 'public', create: 'admin', update: 'admin|owner(userId)', delete: 'admin' },
      validation: { name: 'required|max:120', email: 'email' },
      relationships: { posts: { type: 'hasMany', model: 'Post', foreignKey: 'authorId' } },
      ui: { listView: ['name', 'email'], displayField: 'name' },
    },
    Category: {
      tableName: 'categories',
      access: { read: 'public', create: 'editor|admin', update: 'editor|admin', delete: 'admin' },
      validation: { name: 'required|max:80', slug: 'required|max:80' },
      ui: { displayField: 'name' },
    },
    Post: {
      access: { read: 'public', create: 'editor|admin', update: 'editor|admin', delete: 'admin' },
      validation: { title: 'required|min:2|max:200', slug: 'required|max:200', excerpt: 'max:500' },
      relationships: {
        author: { type: 'belongsTo', model: 'Author', foreignKey: 'authorId' },
        category: { type: 'belongsTo', model: 'Category', foreignKey: 'categoryId' },
        comments: { type: 'hasMany', model: 'Comment', foreignKey: 'postId' },
      },
      ui: { listView: ['title', 'status', 'publishedAt'], displayField: 'title' },
    },
    Comment: {
      access: { read: 'public', create: 'public', update: 'editor|admin', delete: 'editor|admin' },
      validation: { authorName: 'required|max:80', body: 'required|max:5000' },
      relationships: { post: { type: 'belongsTo', model: 'Post', foreignKey: 'postId' } },
    },
  },
}
export default schema
