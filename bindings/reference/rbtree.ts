/**
 * A red-black tree with lib/rbtree.c's insertion and erase algorithms, so
 * that a tree built by the same sequence of operations has the kernel's
 * exact shape. KSM's trees need the shape: a search walks (and may prune)
 * the nodes on its path, not just the one it is looking for.
 */

export interface RbNode<T extends RbNode<T>> {
  rbParent: T | null;
  rbLeft: T | null;
  rbRight: T | null;
  rbRed: boolean;
}

export class RbRoot<T extends RbNode<T>> {
  node: T | null = null;
}

/** Point parent's link to old at new (or the root) (__rb_change_child()). */
function change_child<T extends RbNode<T>>(old: T, nu: T | null, parent: T | null, root: RbRoot<T>): void {
  if (parent !== null) {
    if (parent.rbLeft === old) parent.rbLeft = nu;
    else parent.rbRight = nu;
  } else {
    root.node = nu;
  }
}

/** nu takes old's place under old's parent with old's colour; old goes below nu with colour red (__rb_rotate_set_parents()). */
function rotate_set_parents<T extends RbNode<T>>(old: T, nu: T, root: RbRoot<T>, red: boolean): void {
  const parent = old.rbParent;
  nu.rbParent = parent;
  nu.rbRed = old.rbRed;
  old.rbParent = nu;
  old.rbRed = red;
  change_child(old, nu, parent, root);
}

/** Link node as a leaf below parent (left or right) (rb_link_node()). */
export function rb_link_node<T extends RbNode<T>>(node: T, parent: T | null, left: boolean, root: RbRoot<T>): void {
  node.rbParent = parent;
  node.rbLeft = null;
  node.rbRight = null;
  node.rbRed = true;
  if (parent === null) root.node = node;
  else if (left) parent.rbLeft = node;
  else parent.rbRight = node;
}

/** Rebalance after linking a red leaf (rb_insert_color()). */
export function rb_insert_color<T extends RbNode<T>>(node0: T, root: RbRoot<T>): void {
  let node = node0;
  let parent = node.rbParent;
  for (;;) {
    if (parent === null) {
      node.rbRed = false;
      return;
    }
    if (!parent.rbRed) return;
    const gparent = parent.rbParent!;
    let tmp = gparent.rbRight;
    if (parent !== tmp) {
      if (tmp !== null && tmp.rbRed) {
        // Case 1: the uncle is red: flip colours and go up.
        tmp.rbRed = false;
        parent.rbRed = false;
        node = gparent;
        parent = node.rbParent;
        node.rbRed = true;
        continue;
      }
      tmp = parent.rbRight;
      if (node === tmp) {
        // Case 2: left rotate at parent.
        tmp = node.rbLeft;
        parent.rbRight = tmp;
        node.rbLeft = parent;
        if (tmp !== null) {
          tmp.rbParent = parent;
          tmp.rbRed = false;
        }
        parent.rbParent = node;
        parent.rbRed = true;
        parent = node;
        tmp = node.rbRight;
      }
      // Case 3: right rotate at gparent.
      gparent.rbLeft = tmp;
      parent.rbRight = gparent;
      if (tmp !== null) {
        tmp.rbParent = gparent;
        tmp.rbRed = false;
      }
      rotate_set_parents(gparent, parent, root, true);
      return;
    }
    tmp = gparent.rbLeft;
    if (tmp !== null && tmp.rbRed) {
      tmp.rbRed = false;
      parent.rbRed = false;
      node = gparent;
      parent = node.rbParent;
      node.rbRed = true;
      continue;
    }
    tmp = parent.rbLeft;
    if (node === tmp) {
      tmp = node.rbRight;
      parent.rbLeft = tmp;
      node.rbRight = parent;
      if (tmp !== null) {
        tmp.rbParent = parent;
        tmp.rbRed = false;
      }
      parent.rbParent = node;
      parent.rbRed = true;
      parent = node;
      tmp = node.rbLeft;
    }
    gparent.rbRight = tmp;
    parent.rbLeft = gparent;
    if (tmp !== null) {
      tmp.rbParent = gparent;
      tmp.rbRed = false;
    }
    rotate_set_parents(gparent, parent, root, true);
    return;
  }
}

/** Restore the black heights after erasing a black node below parent (____rb_erase_color()). */
function erase_color<T extends RbNode<T>>(parent0: T, root: RbRoot<T>): void {
  let parent: T | null = parent0;
  let node: T | null = null;
  while (parent !== null) {
    let sibling: T | null = parent.rbRight;
    if (node !== sibling) {
      let s = sibling!;
      if (s.rbRed) {
        // Case 1: left rotate at parent.
        const tmp1 = s.rbLeft!;
        parent.rbRight = tmp1;
        s.rbLeft = parent;
        tmp1.rbParent = parent;
        tmp1.rbRed = false;
        rotate_set_parents(parent, s, root, true);
        s = tmp1;
      }
      let tmp1 = s.rbRight;
      if (tmp1 === null || !tmp1.rbRed) {
        const tmp2 = s.rbLeft;
        if (tmp2 === null || !tmp2.rbRed) {
          // Case 2: sibling colour flip.
          s.rbRed = true;
          if (parent.rbRed) parent.rbRed = false;
          else {
            node = parent;
            parent = node.rbParent;
            if (parent !== null) continue;
          }
          return;
        }
        // Case 3: right rotate at sibling.
        tmp1 = tmp2.rbRight;
        s.rbLeft = tmp1;
        tmp2.rbRight = s;
        parent.rbRight = tmp2;
        if (tmp1 !== null) {
          tmp1.rbParent = s;
          tmp1.rbRed = false;
        }
        tmp1 = s;
        s = tmp2;
      }
      // Case 4: left rotate at parent and colour flips.
      const tmp2 = s.rbLeft;
      parent.rbRight = tmp2;
      s.rbLeft = parent;
      tmp1!.rbParent = s;
      tmp1!.rbRed = false;
      if (tmp2 !== null) tmp2.rbParent = parent;
      rotate_set_parents(parent, s, root, false);
      return;
    }
    sibling = parent.rbLeft;
    let s = sibling!;
    if (s.rbRed) {
      const tmp1 = s.rbRight!;
      parent.rbLeft = tmp1;
      s.rbRight = parent;
      tmp1.rbParent = parent;
      tmp1.rbRed = false;
      rotate_set_parents(parent, s, root, true);
      s = tmp1;
    }
    let tmp1 = s.rbLeft;
    if (tmp1 === null || !tmp1.rbRed) {
      const tmp2 = s.rbRight;
      if (tmp2 === null || !tmp2.rbRed) {
        s.rbRed = true;
        if (parent.rbRed) parent.rbRed = false;
        else {
          node = parent;
          parent = node.rbParent;
          if (parent !== null) continue;
        }
        return;
      }
      tmp1 = tmp2.rbLeft;
      s.rbRight = tmp1;
      tmp2.rbLeft = s;
      parent.rbLeft = tmp2;
      if (tmp1 !== null) {
        tmp1.rbParent = s;
        tmp1.rbRed = false;
      }
      tmp1 = s;
      s = tmp2;
    }
    const tmp2 = s.rbRight;
    parent.rbLeft = tmp2;
    s.rbRight = parent;
    tmp1!.rbParent = s;
    tmp1!.rbRed = false;
    if (tmp2 !== null) tmp2.rbParent = parent;
    rotate_set_parents(parent, s, root, false);
    return;
  }
}

/** Unlink node and rebalance (rb_erase()): a node with two children is replaced by its successor. */
export function rb_erase<T extends RbNode<T>>(node: T, root: RbRoot<T>): void {
  const child = node.rbRight;
  let tmp = node.rbLeft;
  let rebalance: T | null;
  if (tmp === null) {
    const parent = node.rbParent;
    change_child(node, child, parent, root);
    if (child !== null) {
      child.rbParent = parent;
      child.rbRed = node.rbRed;
      rebalance = null;
    } else {
      rebalance = !node.rbRed ? parent : null;
    }
  } else if (child === null) {
    const parent = node.rbParent;
    tmp.rbParent = parent;
    tmp.rbRed = node.rbRed;
    change_child(node, tmp, parent, root);
    rebalance = null;
  } else {
    let successor: T = child;
    let parent: T;
    let child2: T | null;
    tmp = child.rbLeft;
    if (tmp === null) {
      parent = successor;
      child2 = successor.rbRight;
    } else {
      do {
        parent = successor;
        successor = tmp;
        tmp = tmp.rbLeft;
      } while (tmp !== null);
      child2 = successor.rbRight;
      parent.rbLeft = child2;
      successor.rbRight = child;
      child.rbParent = successor;
    }
    tmp = node.rbLeft!;
    successor.rbLeft = tmp;
    tmp.rbParent = successor;
    const nodeParent = node.rbParent;
    change_child(node, successor, nodeParent, root);
    if (child2 !== null) {
      child2.rbParent = parent;
      child2.rbRed = false;
      rebalance = null;
    } else {
      rebalance = !successor.rbRed ? parent : null;
    }
    successor.rbParent = nodeParent;
    successor.rbRed = node.rbRed;
  }
  if (rebalance !== null) erase_color(rebalance, root);
}

/** nu takes victim's place in the tree, links and colour (rb_replace_node()). */
export function rb_replace_node<T extends RbNode<T>>(victim: T, nu: T, root: RbRoot<T>): void {
  const parent = victim.rbParent;
  nu.rbParent = parent;
  nu.rbLeft = victim.rbLeft;
  nu.rbRight = victim.rbRight;
  nu.rbRed = victim.rbRed;
  if (victim.rbLeft !== null) victim.rbLeft.rbParent = nu;
  if (victim.rbRight !== null) victim.rbRight.rbParent = nu;
  change_child(victim, nu, parent, root);
}
