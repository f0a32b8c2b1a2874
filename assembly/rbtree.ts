// A red-black tree with lib/rbtree.c's insertion and erase algorithms,
// mirroring bindings/reference/rbtree.ts: a tree built by the same sequence
// of operations has the kernel's exact shape (KSM's walks resolve, and may
// prune, every node on their path). Nodes are raw records whose first 16
// bytes are the links: parent, left, right (u32 pointers, 0 for none) and
// red (u32, 0 or 1). A root is the address of a u32 cell holding the top node.

// @ts-ignore: decorator
@inline export function rb_parent(n: usize): usize { return load<u32>(n, 0); }
// @ts-ignore: decorator
@inline export function rb_left(n: usize): usize { return load<u32>(n, 4); }
// @ts-ignore: decorator
@inline export function rb_right(n: usize): usize { return load<u32>(n, 8); }
// @ts-ignore: decorator
@inline function rb_red(n: usize): bool { return load<u32>(n, 12) != 0; }
// @ts-ignore: decorator
@inline function set_parent(n: usize, p: usize): void { store<u32>(n, <u32>p, 0); }
// @ts-ignore: decorator
@inline function set_left(n: usize, p: usize): void { store<u32>(n, <u32>p, 4); }
// @ts-ignore: decorator
@inline function set_right(n: usize, p: usize): void { store<u32>(n, <u32>p, 8); }
// @ts-ignore: decorator
@inline function set_red(n: usize, red: bool): void { store<u32>(n, red ? 1 : 0, 12); }
// @ts-ignore: decorator
@inline export function rb_root_node(root: usize): usize { return load<u32>(root); }

/** Point parent's link to old at nu (or the root) (__rb_change_child()). */
// @ts-ignore: decorator
@inline function change_child(old: usize, nu: usize, parent: usize, root: usize): void {
  if (parent != 0) {
    if (rb_left(parent) == old) set_left(parent, nu);
    else set_right(parent, nu);
  } else {
    store<u32>(root, <u32>nu);
  }
}

/** nu takes old's place under old's parent with old's colour; old goes below nu with colour red (__rb_rotate_set_parents()). */
function rotate_set_parents(old: usize, nu: usize, root: usize, red: bool): void {
  const parent = rb_parent(old);
  set_parent(nu, parent);
  set_red(nu, rb_red(old));
  set_parent(old, nu);
  set_red(old, red);
  change_child(old, nu, parent, root);
}

/** Link node as a leaf below parent (left or right) (rb_link_node()). */
export function rb_link_node(node: usize, parent: usize, left: bool, root: usize): void {
  set_parent(node, parent);
  set_left(node, 0);
  set_right(node, 0);
  set_red(node, true);
  if (parent == 0) store<u32>(root, <u32>node);
  else if (left) set_left(parent, node);
  else set_right(parent, node);
}

/** Rebalance after linking a red leaf (rb_insert_color()). */
export function rb_insert_color(node0: usize, root: usize): void {
  let node = node0;
  let parent = rb_parent(node);
  for (;;) {
    if (parent == 0) {
      set_red(node, false);
      return;
    }
    if (!rb_red(parent)) return;
    const gparent = rb_parent(parent);
    let tmp = rb_right(gparent);
    if (parent != tmp) {
      if (tmp != 0 && rb_red(tmp)) {
        // Case 1: the uncle is red: flip colours and go up.
        set_red(tmp, false);
        set_red(parent, false);
        node = gparent;
        parent = rb_parent(node);
        set_red(node, true);
        continue;
      }
      tmp = rb_right(parent);
      if (node == tmp) {
        // Case 2: left rotate at parent.
        tmp = rb_left(node);
        set_right(parent, tmp);
        set_left(node, parent);
        if (tmp != 0) {
          set_parent(tmp, parent);
          set_red(tmp, false);
        }
        set_parent(parent, node);
        set_red(parent, true);
        parent = node;
        tmp = rb_right(node);
      }
      // Case 3: right rotate at gparent.
      set_left(gparent, tmp);
      set_right(parent, gparent);
      if (tmp != 0) {
        set_parent(tmp, gparent);
        set_red(tmp, false);
      }
      rotate_set_parents(gparent, parent, root, true);
      return;
    }
    tmp = rb_left(gparent);
    if (tmp != 0 && rb_red(tmp)) {
      set_red(tmp, false);
      set_red(parent, false);
      node = gparent;
      parent = rb_parent(node);
      set_red(node, true);
      continue;
    }
    tmp = rb_left(parent);
    if (node == tmp) {
      tmp = rb_right(node);
      set_left(parent, tmp);
      set_right(node, parent);
      if (tmp != 0) {
        set_parent(tmp, parent);
        set_red(tmp, false);
      }
      set_parent(parent, node);
      set_red(parent, true);
      parent = node;
      tmp = rb_left(node);
    }
    set_right(gparent, tmp);
    set_left(parent, gparent);
    if (tmp != 0) {
      set_parent(tmp, gparent);
      set_red(tmp, false);
    }
    rotate_set_parents(gparent, parent, root, true);
    return;
  }
}

/** Restore the black heights after erasing a black node below parent (____rb_erase_color()). */
function erase_color(parent0: usize, root: usize): void {
  let parent = parent0;
  let node: usize = 0;
  while (parent != 0) {
    let sibling = rb_right(parent);
    if (node != sibling) {
      let s = sibling;
      if (rb_red(s)) {
        // Case 1: left rotate at parent.
        const tmp1 = rb_left(s);
        set_right(parent, tmp1);
        set_left(s, parent);
        set_parent(tmp1, parent);
        set_red(tmp1, false);
        rotate_set_parents(parent, s, root, true);
        s = tmp1;
      }
      let tmp1 = rb_right(s);
      if (tmp1 == 0 || !rb_red(tmp1)) {
        const tmp2 = rb_left(s);
        if (tmp2 == 0 || !rb_red(tmp2)) {
          // Case 2: sibling colour flip.
          set_red(s, true);
          if (rb_red(parent)) set_red(parent, false);
          else {
            node = parent;
            parent = rb_parent(node);
            if (parent != 0) continue;
          }
          return;
        }
        // Case 3: right rotate at sibling.
        tmp1 = rb_right(tmp2);
        set_left(s, tmp1);
        set_right(tmp2, s);
        set_right(parent, tmp2);
        if (tmp1 != 0) {
          set_parent(tmp1, s);
          set_red(tmp1, false);
        }
        tmp1 = s;
        s = tmp2;
      }
      // Case 4: left rotate at parent and colour flips.
      const tmp2 = rb_left(s);
      set_right(parent, tmp2);
      set_left(s, parent);
      set_parent(tmp1, s);
      set_red(tmp1, false);
      if (tmp2 != 0) set_parent(tmp2, parent);
      rotate_set_parents(parent, s, root, false);
      return;
    }
    sibling = rb_left(parent);
    let s = sibling;
    if (rb_red(s)) {
      const tmp1 = rb_right(s);
      set_left(parent, tmp1);
      set_right(s, parent);
      set_parent(tmp1, parent);
      set_red(tmp1, false);
      rotate_set_parents(parent, s, root, true);
      s = tmp1;
    }
    let tmp1 = rb_left(s);
    if (tmp1 == 0 || !rb_red(tmp1)) {
      const tmp2 = rb_right(s);
      if (tmp2 == 0 || !rb_red(tmp2)) {
        set_red(s, true);
        if (rb_red(parent)) set_red(parent, false);
        else {
          node = parent;
          parent = rb_parent(node);
          if (parent != 0) continue;
        }
        return;
      }
      tmp1 = rb_left(tmp2);
      set_right(s, tmp1);
      set_left(tmp2, s);
      set_left(parent, tmp2);
      if (tmp1 != 0) {
        set_parent(tmp1, s);
        set_red(tmp1, false);
      }
      tmp1 = s;
      s = tmp2;
    }
    const tmp2 = rb_right(s);
    set_left(parent, tmp2);
    set_right(s, parent);
    set_parent(tmp1, s);
    set_red(tmp1, false);
    if (tmp2 != 0) set_parent(tmp2, parent);
    rotate_set_parents(parent, s, root, false);
    return;
  }
}

/** Unlink node and rebalance (rb_erase()): a node with two children is replaced by its successor. */
export function rb_erase(node: usize, root: usize): void {
  const child = rb_right(node);
  let tmp = rb_left(node);
  let rebalance: usize;
  if (tmp == 0) {
    const parent = rb_parent(node);
    change_child(node, child, parent, root);
    if (child != 0) {
      set_parent(child, parent);
      set_red(child, rb_red(node));
      rebalance = 0;
    } else {
      rebalance = !rb_red(node) ? parent : 0;
    }
  } else if (child == 0) {
    const parent = rb_parent(node);
    set_parent(tmp, parent);
    set_red(tmp, rb_red(node));
    change_child(node, tmp, parent, root);
    rebalance = 0;
  } else {
    let successor = child;
    let parent: usize;
    let child2: usize;
    tmp = rb_left(child);
    if (tmp == 0) {
      parent = successor;
      child2 = rb_right(successor);
    } else {
      do {
        parent = successor;
        successor = tmp;
        tmp = rb_left(tmp);
      } while (tmp != 0);
      child2 = rb_right(successor);
      set_left(parent, child2);
      set_right(successor, child);
      set_parent(child, successor);
    }
    tmp = rb_left(node);
    set_left(successor, tmp);
    set_parent(tmp, successor);
    const nodeParent = rb_parent(node);
    change_child(node, successor, nodeParent, root);
    if (child2 != 0) {
      set_parent(child2, parent);
      set_red(child2, false);
      rebalance = 0;
    } else {
      rebalance = !rb_red(successor) ? parent : 0;
    }
    set_parent(successor, nodeParent);
    set_red(successor, rb_red(node));
  }
  if (rebalance != 0) erase_color(rebalance, root);
}

/** nu takes victim's place in the tree, links and colour (rb_replace_node()). */
export function rb_replace_node(victim: usize, nu: usize, root: usize): void {
  const parent = rb_parent(victim);
  set_parent(nu, parent);
  set_left(nu, rb_left(victim));
  set_right(nu, rb_right(victim));
  set_red(nu, rb_red(victim));
  if (rb_left(victim) != 0) set_parent(rb_left(victim), nu);
  if (rb_right(victim) != 0) set_parent(rb_right(victim), nu);
  change_child(victim, nu, parent, root);
}

/** The first node in order (rb_first()), or 0. */
export function rb_first(root: usize): usize {
  let n = rb_root_node(root);
  if (n == 0) return 0;
  while (rb_left(n) != 0) n = rb_left(n);
  return n;
}

/** The node after n in order (rb_next()), or 0. */
export function rb_next(node: usize): usize {
  let n = rb_right(node);
  if (n != 0) {
    while (rb_left(n) != 0) n = rb_left(n);
    return n;
  }
  n = node;
  let p = rb_parent(n);
  while (p != 0 && n == rb_right(p)) {
    n = p;
    p = rb_parent(n);
  }
  return p;
}
