/**
 * The red-black tree of lib/rbtree.c: after any sequence of inserts and
 * erases it is a valid red-black tree (black root, no red-red edge, equal
 * black heights, consistent parent links) holding its keys in order.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type RbNode, RbRoot, rb_erase, rb_insert_color, rb_link_node, rb_replace_node } from "../../bindings/reference/rbtree.js";

class N implements RbNode<N> {
  rbParent: N | null = null;
  rbLeft: N | null = null;
  rbRight: N | null = null;
  rbRed = false;
  constructor(readonly key: number) {}
}

function insert(root: RbRoot<N>, n: N): void {
  let parent: N | null = null;
  let left = false;
  let cur = root.node;
  while (cur !== null) {
    parent = cur;
    left = n.key < cur.key;
    cur = left ? cur.rbLeft : cur.rbRight;
  }
  rb_link_node(n, parent, left, root);
  rb_insert_color(n, root);
}

/** Checks the invariants; returns the keys in order. */
function check(root: RbRoot<N>): number[] {
  const keys: number[] = [];
  const walk = (n: N | null, parent: N | null): number => {
    if (n === null) return 1;
    expect(n.rbParent).toBe(parent);
    if (n.rbRed) {
      expect(n.rbLeft?.rbRed ?? false).toBe(false);
      expect(n.rbRight?.rbRed ?? false).toBe(false);
    }
    const lh = walk(n.rbLeft, n);
    keys.push(n.key);
    const rh = walk(n.rbRight, n);
    expect(lh).toBe(rh);
    return lh + (n.rbRed ? 0 : 1);
  };
  if (root.node !== null) expect(root.node.rbRed).toBe(false);
  walk(root.node, null);
  return keys;
}

describe("rbtree (lib/rbtree.c algorithms)", () => {
  it("stays a valid red-black tree with its keys in order under random inserts and erases", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 60 })), { maxLength: 200 }), (ops) => {
        const root = new RbRoot<N>();
        const present = new Map<number, N>();
        for (const [add, key] of ops) {
          if (add && !present.has(key)) {
            const n = new N(key);
            insert(root, n);
            present.set(key, n);
          } else if (!add && present.has(key)) {
            rb_erase(present.get(key)!, root);
            present.delete(key);
          }
          expect(check(root)).toEqual([...present.keys()].sort((a, b) => a - b));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("rb_replace_node puts a node in another's place, links and colour", () => {
    const root = new RbRoot<N>();
    const nodes = [5, 3, 8, 1, 4].map((k) => new N(k));
    for (const n of nodes) insert(root, n);
    const victim = nodes[1]!;
    const nu = new N(3);
    rb_replace_node(victim, nu, root);
    expect(check(root)).toEqual([1, 3, 4, 5, 8]);
    expect(nu.rbLeft).toBe(nodes[3]);
    expect(nu.rbRight).toBe(nodes[4]);
  });
});
