(** * tileos capability system: the kernel model with derived authority

    A second executable model, closer to the kernel than [Model.v], used
    for confinement over an authority graph derived from capabilities
    ([Authority.v]) and as the model extracted to OCaml for the refinement
    test ([Extract.v], [proofs/model-checker/src/refinement.rs]).

    Differences from [Model.v]:
    - there are no domains and no static [owner] map: an operation is
      performed by a thread (a TCB object id) through the CSpace root bound
      to it ([kbind]); it may use the slots of its root CNode and of every
      CNode its root holds a capability to (one level, see [reach]);
    - every object has a label ([klbl]); a retyped object gets the label of
      its untyped; labels only serve to state the policy;
    - a slot is usable only while its CNode is live and its index is below
      the CNode's slot count ([slot_ok]); when a CNode is destroyed its
      contents go with it ([collect]);
    - CNodes and TCBs can be retyped; threads are bound to a CSpace root
      ([KBind]) by a copy of a CNode capability in the TCB's root slot; frames are mapped into VSpaces ([KMap], [KUnmap]);
      capabilities move with [KMutate] and [KRotate]; IPC transfers a
      derived copy of a capability over an endpoint when both ends have
      the grant right ([KSend]) or back over a reply to a caller whose
      capability has [grant] or [grant_reply] ([KReply]), delivering the
      message without it otherwise, as the kernel does ([transfer]);
    - a deletion can stop after one unit of work ([KDeleteStep],
      [KRevokeStep]), leaving the last capability to a CNode as a zombie
      while its slots are emptied ("Preempted deletion" below).

    Every operation is total: [kstep : kstate -> kop -> option kstate],
    [None] being an error that leaves the state unchanged ([krun]). One
    step [kstep] carries out is answered with an error by the kernel (a
    [KBind] whose source its emptying destroyed, [kbind_lost]); that answer
    is [KernelErrors.kstep_code]'s.
    Shared definitions (rights, capabilities, slots, CDT entries, objects,
    [lookup], [remove_slot], [not_desc_of], [upd]) come from [Model.v]. *)

From Coq Require Import List Arith Bool Lia.
Import ListNotations.
From Tileos Require Import Model.

(** A mapping: frame [m_frame] mapped at virtual address [m_va] of the
    VSpace (page-table root) [m_vs], writable when [m_write]. *)
Record kmap := mkMap { m_vs : nat; m_va : nat; m_frame : nat; m_write : bool }.

(** ** State
    [kobjs]: live objects; for a CNode, [o_size] is its number of slots.
    [kctes]: occupied slots with their CDT nodes (as in [Model.v]).
    [klbl]: the label of every object id. [kwm]: untyped watermarks.
    [kmaps]: the frame mappings. [kbind]: (TCB, CSpace root CNode) pairs. *)
Record kstate := mkK {
  kobjs : list obj;
  kctes : list cte;
  klbl : nat -> nat;
  kwm : nat -> nat;
  kmaps : list kmap;
  kbind : list (nat * nat);
  knext_obj : nat;
  knext_node : nat
}.

(** The TCB slot holding a thread's CSpace root capability: slot 0 of the
    TCB object (the kernel's [tcb_slot::CSPACE]). No thread can name it
    ([slot_ok] needs a CNode), as no CNode invocation reaches a TCB's slots
    in the kernel. *)
Definition tcb_root_slot (t : nat) : slot := (t, 0).

(** A thread's CSpace root: the CNode of the capability in its TCB's root
    slot, placed there by [KBind] as the kernel's TcbConfigure does; else
    (the slot is empty) its [kbind] record: the root server's binding at
    boot ([kinit]) and the bindings of threads outside the model (the
    refinement test's). [KBind] drops a thread's [kbind] record, so once
    its root capability is gone (a revoke of the capability it was derived
    from, say) the thread has no CSpace. *)
Definition root_of (st : kstate) (t : nat) : option nat :=
  match lookup (kctes st) (tcb_root_slot t) with
  | Some e => if otype_eqb (c_type (e_cap e)) CNodeObj then Some (c_obj (e_cap e)) else None
  | None => option_map snd (find (fun b => fst b =? t) (kbind st))
  end.

(** CNode [c] is in the CSpace of root [r]: it is [r], or [r] holds a CNode
    capability to it. *)
Definition reach (st : kstate) (r c : nat) : bool :=
  (c =? r) ||
  existsb (fun e => (fst (e_slot e) =? r) && otype_eqb (c_type (e_cap e)) CNodeObj
                    && (c_obj (e_cap e) =? c)) (kctes st).

(** Bytes per CNode slot, as in the kernel (`SLOT_SIZE_BITS` = 6). *)
Definition slot_bytes : nat := 64.

(** The slot exists: its CNode is live and the index is below the CNode's
    slot count ([o_size] bytes, [slot_bytes] per slot). *)
Definition slot_ok (st : kstate) (s : slot) : bool :=
  match find_obj (kobjs st) (fst s) with
  | Some o => otype_eqb (o_type o) CNodeObj && (S (snd s) * slot_bytes <=? o_size o)
  | None => false
  end.

(** Thread [t] may name slot [s]. *)
Definition usable (st : kstate) (t : nat) (s : slot) : bool :=
  match root_of st t with
  | Some r => reach st r (fst s) && slot_ok st s
  | None => false
  end.

Definition kempty (st : kstate) (s : slot) : bool := is_empty (kctes st) s.

Definition set_kctes (st : kstate) (l : list cte) : kstate :=
  mkK (kobjs st) l (klbl st) (kwm st) (kmaps st) (kbind st) (knext_obj st) (knext_node st).

(** ** Reclamation
    An object with no capability, no live child object and no thread using
    it as CSpace root is destroyed (a bound root is held by its TCB, as the
    kernel holds it in the TCB's own slots); with it go the contents of a
    destroyed CNode, the mappings of a destroyed frame or VSpace and the
    binding of a destroyed TCB. A binding whose thread is not among the
    objects (a thread outside the model, as the model checker's) stays.
    One pass may expose new garbage, so it is iterated. *)
Definition alive (os : list obj) (i : nat) : bool := existsb (fun o => o_id o =? i) os.

Definition is_root (bs : list (nat * nat)) (i : nat) : bool := existsb (fun b => snd b =? i) bs.

Definition collect_pass (st : kstate) : kstate :=
  let os := filter (fun o => has_cap (kctes st) (o_id o) || has_child (kobjs st) (o_id o)
                             || is_root (kbind st) (o_id o)) (kobjs st) in
  mkK os (filter (fun e => alive os (fst (e_slot e))) (kctes st)) (klbl st) (kwm st)
      (filter (fun m => alive os (m_vs m) && alive os (m_frame m)) (kmaps st))
      (filter (fun b => negb (alive (kobjs st) (fst b)) || alive os (fst b)) (kbind st))
      (knext_obj st) (knext_node st).

Fixpoint collect_iter (n : nat) (st : kstate) : kstate :=
  match n with 0 => st | S n' => collect_iter n' (collect_pass st) end.

Definition collect (st : kstate) : kstate := collect_iter (2 * S (length (kobjs st))) st.

(** A capability [c] derived from entry [p] into [dst] (a CDT child of [p]). *)
Definition kinsert (st : kstate) (p : cte) (dst : slot) (c : cap) : kstate :=
  set_kctes (mkK (kobjs st) (kctes st) (klbl st) (kwm st) (kmaps st) (kbind st)
                 (knext_obj st) (S (knext_node st)))
            (mkCte dst c (knext_node st) (e_node p :: e_anc p) :: kctes st).

Definition rand (a b : rights) : rights :=
  mkRights (r_read a && r_read b) (r_write a && r_write b) (r_grant a && r_grant b)
           (r_grant_reply a && r_grant_reply b).

(** A copied or minted capability, as the kernel's [cap::derive]: untyped,
    reply and IOSpace control capabilities cannot be copied; endpoint, notification and
    frame rights are the source's intersected with the mask [r] (other
    types carry no rights in the kernel and keep theirs); a badge [b <> 0]
    may only be set on an unbadged endpoint or notification capability
    ([b = 0] keeps the badge). CNode guards are not modelled. *)
Definition derive (c : cap) (r : rights) (b : nat) : option cap :=
  match c_type c with
  | Untyped | ReplyObj | IoSpaceControlObj => None
  | ZombieObj | ZombieInnerObj => None
  | EndpointObj | NotificationObj =>
      if b =? 0 then Some (mkCap (c_obj c) (c_type c) (rand r (c_rights c)) (c_badge c))
      else if c_badge c =? 0 then Some (mkCap (c_obj c) (c_type c) (rand r (c_rights c)) b)
      else None
  | FrameObj => Some (mkCap (c_obj c) (c_type c) (rand r (c_rights c)) (c_badge c))
  | _ => Some c
  end.

(** A mutated capability: it moves unchanged (a CNode's new guard is not
    modelled); a non-zero [data] on an endpoint or notification would
    change the badge in place and is refused (seL4's rule). *)
Definition kmutate (c : cap) (data : nat) : option cap :=
  match c_type c with
  | EndpointObj | NotificationObj => if data =? 0 then Some c else None
  | ZombieObj | ZombieInnerObj => None
  | _ => Some c
  end.

(** [w] rounded up to a multiple of [a] (objects are aligned to their size). *)
Definition roundup (w a : nat) : nat := if a =? 0 then w else ((w + a - 1) / a) * a.

(** ** Retype: one object at the watermark of untyped [u], labelled as [u] *)
(** Object id [n] appears nowhere in the state (not even as the parent of
    an object). The next id always
    qualifies in states reached from [kinit] (ids are never reused); the
    check makes the confinement theorem hold for every state, without a
    reachability invariant. *)
Definition unused (st : kstate) (n : nat) : bool :=
  negb (existsb (fun o => o_id o =? n) (kobjs st) ||
        existsb (fun e => (fst (e_slot e) =? n) || (c_obj (e_cap e) =? n)) (kctes st) ||
        existsb (fun m => (m_vs m =? n) || (m_frame m =? n)) (kmaps st) ||
        existsb (fun b => (fst b =? n) || (snd b =? n)) (kbind st) ||
        existsb (fun o => match o_parent o with Some p => p =? n | None => false end) (kobjs st)).

Definition kcreate (st : kstate) (t : nat) (x : cte) (u : obj)
           (ty : otype) (size : nat) (d : slot) : option kstate :=
  let off := roundup (kwm st (o_id u)) size in
  if usable st t d && kempty st d && (off + size <=? o_size u)
     && unused st (knext_obj st) then
    let n := knext_obj st in
    let no := mkObj n ty (o_base u + off) size (Some (o_id u)) in
    Some (mkK (no :: kobjs st)
              (mkCte d (mkCap n ty (c_rights (e_cap x)) 0) (knext_node st)
                     (e_node x :: e_anc x) :: kctes st)
              (fun i => if i =? n then klbl st (o_id u) else klbl st i)
              (upd (kwm st) (o_id u) (off + size))
              (kmaps st) (kbind st) (S n) (S (knext_node st)))
  else None.

Fixpoint kretype_loop (st : kstate) (t : nat) (x : cte) (u : obj)
         (ty : otype) (size : nat) (ds : list slot) : option kstate :=
  match ds with
  | [] => Some st
  | d :: ds' =>
      match kcreate st t x u ty size d with
      | Some st' => kretype_loop st' t x u ty size ds'
      | None => None
      end
  end.

(** ** The argument ranges of a retype, as the kernel's [untyped::plan]
    checks them before any memory or slot: an untyped's size is a power of
    two from 2^4 to 2^47 bytes ([MIN_UNTYPED_BITS], [MAX_UNTYPED_BITS]), a
    CNode's from 2 to 2^20 slots of [slot_bytes] (radix 1 to
    [MAX_CNODE_RADIX]); other objects have a fixed size, so their size
    argument is not checked; from 1 to 256 objects ([MAX_RETYPE_COUNT]).
    The kernel answers RangeError otherwise. *)
(** [n] is [p * 2^i] for some [i < k]; stops once [p] passes [n], so no
    power larger than [2 * n] is ever computed. *)
Fixpoint pow2_from (n p k : nat) : bool :=
  match k with
  | 0 => false
  | S k' => if n =? p then true else if n <? p then false else pow2_from n (2 * p) k'
  end.

(** [n] is [2^b] for some [b] from [lo] to [hi]. *)
Definition pow2_between (n lo hi : nat) : bool := pow2_from n (2 ^ lo) (S hi - lo).

Definition size_ok (ty : otype) (size : nat) : bool :=
  match ty with
  | Untyped => pow2_between size 4 47
  | CNodeObj => pow2_between size 7 26
  | _ => true
  end.

Definition retype_ok (ty : otype) (size count : nat) : bool :=
  size_ok ty size && (1 <=? count) && (count <=? 256).

(** ** Operations; the first argument is the acting thread (a TCB id) *)
Inductive kop :=
| KCopy (t : nat) (src dst : slot)
| KMint (t : nat) (src dst : slot) (r : rights) (badge : nat)
| KMove (t : nat) (src dst : slot)
| KMutate (t : nat) (src dst : slot) (data : nat)
| KRotate (t : nat) (src pivot dst : slot)
| KDelete (t : nat) (s : slot)
| KRevoke (t : nat) (s : slot)
| KRetype (t : nat) (ut : slot) (ty : otype) (size : nat) (dsts : list slot)
| KSend (t : nat) (ep src : slot) (rcv : nat) (rep dst : slot)
| KReply (t : nat) (ep src : slot) (caller : nat) (cep dst : slot)
| KBind (t : nat) (tcb cn : slot)
| KMap (t : nat) (vs fr : slot) (va : nat)
| KUnmap (t : nat) (vs : slot) (va : nat)
| KDeleteStep (t : nat) (s : slot)
| KRevokeStep (t : nat) (s : slot).
(** [KSend t ep src rcv rep dst]: thread [t] sends, on the endpoint of its
    capability at [ep] (write right), a message naming the capability at
    [src]; thread [rcv], waiting on the same endpoint through its capability
    at [rep] (read right), receives it, the capability landing in its empty
    receive slot [dst] if both endpoint capabilities have the grant right
    (else the message is delivered without it; [transfer]).
    [KReply t ep src caller cep dst]: thread [t], which received a call on
    the endpoint of its capability at [ep] (read right), replies with the
    capability at [src] to thread [caller], whose capability at [cep] to
    the same endpoint has the write right; the capability lands in
    [caller]'s empty slot [dst] if [cep] has the grant or the grant-reply
    right (the kernel's reply capability records either; else the reply is
    delivered without it).
    [KBind t tcb cn]: the TCB of [t]'s capability at [tcb] gets the CNode of
    the capability at [cn] as CSpace root: a copy of that capability in the
    TCB's root slot, a CDT child of it ([kbind_root]; a revoke of the
    capability at [cn] unbinds the thread).
    [KMap t vs fr va]: the frame of the capability at [fr] (read right;
    writable if it has the write right) is mapped at [va] in the VSpace of
    the capability at [vs] (a page-table root), if nothing is mapped there.
    [KUnmap t vs va] removes that mapping.
    [KDelete] and [KRevoke] of an empty slot succeed and change nothing, as
    in the kernel (and seL4).
    [KDeleteStep t s] and [KRevokeStep t s]: one kernel entry of a CNode
    Delete or Revoke given one unit of work, preempted after it ("Preempted
    deletion" below). [KDelete] and [KRevoke] run a deletion to its end,
    also one a [KDeleteStep] left unfinished (a zombie). *)

Definition is_type (st : kstate) (s : slot) (ty : otype) : option cte :=
  match lookup (kctes st) s with
  | Some x => if otype_eqb (c_type (e_cap x)) ty then Some x else None
  | None => None
  end.

(** Copy and mint: a capability derived ([derive]) from [t]'s capability at
    [src] lands, as its CDT child, in [t]'s empty slot [dst]. *)
Definition derive_into (st : kstate) (t : nat) (src dst : slot) (r : rights) (b : nat)
  : option kstate :=
  if usable st t src && usable st t dst && kempty st dst then
    match lookup (kctes st) src with
    | Some x =>
        match derive (e_cap x) r b with
        | Some c => Some (kinsert st x dst c)
        | None => None
        end
    | None => None
    end
  else None.

(** Move and mutate: the capability at [src], changed by [f], goes to the
    empty slot [dst], keeping its CDT node. *)
Definition relocate (st : kstate) (t : nat) (src dst : slot) (f : cap -> option cap)
  : option kstate :=
  if usable st t src && usable st t dst && kempty st dst then
    match lookup (kctes st) src with
    | Some x =>
        match f (e_cap x) with
        | Some c => Some (set_kctes st (mkCte dst c (e_node x) (e_anc x)
                                          :: remove_slot src (kctes st)))
        | None => None
        end
    | None => None
    end
  else None.

(** A capability transfer over IPC, as the kernel does it (kernel/src/ipc.rs
    over kernel/src/transfer.rs): thread [t] holds at [ep] a capability to
    an endpoint, and thread [t2] one to the same endpoint at [ep2]; the
    message is refused unless [ok] accepts their rights (the kernel's
    system-call layer: the sender's write right, the receiver's read right).
    It then carries the capability at [src] only if [grant] accepts the
    rights too; without the grant rights the message is delivered without
    it, never refused. The capability is dropped (the state stays) when [t]
    cannot name [src] or it is empty, when [t2] cannot name [dst] or [dst]
    is not empty, and when [derive] refuses it (untyped, reply, IOSpace
    control, zombie); a badged capability to the endpoint the message
    travels through ([via]: [Some] endpoint object for a send, [None] for a
    reply) arrives unwrapped, as its badge (not modelled), no slot changing.
    Otherwise the derived copy lands in [dst] as a CDT child of [src]'s
    capability. One capability per message: the kernel's receive slot takes
    one ([KSend], [KReply]). *)
Definition unwraps (via : option nat) (c : cap) : bool :=
  match via with
  | Some o => otype_eqb (c_type c) EndpointObj && (c_obj c =? o) && negb (c_badge c =? 0)
  | None => false
  end.

Definition transfer_cap (st : kstate) (src dst : slot) (via : option nat) : kstate :=
  match lookup (kctes st) src with
  | Some z =>
      if unwraps via (e_cap z) then st
      else match derive (e_cap z) all_rights 0 with
           | Some c => kinsert st z dst c
           | None => st
           end
  | None => st
  end.

Definition transfer (st : kstate) (t : nat) (ep src : slot) (t2 : nat) (ep2 dst : slot)
           (ok grant : rights -> rights -> bool) (unwrap : bool) : option kstate :=
  if usable st t ep && usable st t2 ep2 then
    match is_type st ep EndpointObj, is_type st ep2 EndpointObj with
    | Some xe, Some x2 =>
        if (c_obj (e_cap xe) =? c_obj (e_cap x2)) && ok (c_rights (e_cap xe)) (c_rights (e_cap x2))
        then if grant (c_rights (e_cap xe)) (c_rights (e_cap x2))
                && usable st t src && usable st t2 dst && kempty st dst
             then Some (transfer_cap st src dst (if unwrap then Some (c_obj (e_cap xe)) else None))
             else Some st
        else None
    | _, _ => None
    end
  else None.

(** Binding the CSpace root of TCB [tid] to the CNode of the capability at
    [cn], as the kernel's TcbConfigure does (kernel/src/invoke/tcb.rs over
    [transfer::install]): the capability in the TCB's root slot is deleted
    (with reclamation: a CNode it was the last capability to goes), the
    thread's [kbind] record is dropped, and a copy of the capability at
    [cn] (a CNode's copy is the same capability here: guards are not
    modelled) goes into the root slot as a CDT child of it. If the deletion
    took the capability at [cn] with it (its CNode was destroyed), nothing
    is installed and the thread is left without a CSpace ([kbind_lost]);
    the kernel then answers InvalidCapability naming its CSpace argument,
    after the emptying, which [KernelErrors.kstep_code] gives as the
    answer of such a [KBind]. *)
Definition kbind_root (st : kstate) (tid : nat) (cn : slot) : kstate :=
  let st0 := collect (set_kctes st (remove_slot (tcb_root_slot tid) (kctes st))) in
  let st1 := mkK (kobjs st0) (kctes st0) (klbl st0) (kwm st0) (kmaps st0)
                 (filter (fun b => negb (fst b =? tid)) (kbind st0))
                 (knext_obj st0) (knext_node st0) in
  match lookup (kctes st1) cn with
  | Some x => if otype_eqb (c_type (e_cap x)) CNodeObj
              then kinsert st1 x (tcb_root_slot tid) (e_cap x) else st1
  | None => st1
  end.

(** The emptying of TCB [tid]'s root slot by [kbind_root] takes the
    capability at [cn] with it: the slot is empty afterwards (its CNode was
    destroyed) or holds no CNode capability, so [kbind_root] installs
    nothing. The kernel's TcbConfigure looks the same source up again after
    emptying the TCB's slots ([transfer::changed_source], kernel/src/
    invoke/tcb.rs) and answers InvalidCapability for it. *)
Definition kbind_lost (st : kstate) (tid : nat) (cn : slot) : bool :=
  match lookup (kctes (collect (set_kctes st (remove_slot (tcb_root_slot tid) (kctes st))))) cn with
  | Some x => negb (otype_eqb (c_type (e_cap x)) CNodeObj)
  | None => true
  end.

(** ** Preempted deletion

    The kernel deletes in bounded units of work (kernel/src/cspace.rs,
    [delete_step], [revoke_step]; docs/architecture.md, "Preemption
    points"). Deleting the last capability to a CNode replaces it with a
    zombie ([Cap::Zombie]: here a capability of type [ZombieObj] naming the
    CNode, with the rights, badge, CDT node and ancestors of the capability
    it replaced), and the CNode's slots are then emptied one per unit, from
    the last down; when none is left the CNode is destroyed and the zombie
    removed. The number of slots not yet looked at (the kernel's
    [remaining]) is kept as [kwm] of the CNode ([kwm] is otherwise only
    read for untypeds). While the zombie is there the CNode is not
    reachable ([reach] needs a [CNodeObj] capability), a zombie cannot be
    copied, minted, moved, mutated, rotated or revoked (the kernel answers
    DeletionInProgress, [KernelErrors.kerror_of]), and a [KDelete] of it
    finishes the deletion.

    [kunit st s] is one unit of work on the capability at [s]:
    - an empty slot: nothing;
    - a zombie whose count is 0: the CNode is destroyed with the zombie
      ([kdel]);
    - a zombie whose count is [S r]: if slot [r] of its CNode holds an
      inner zombie ([ZombieInnerObj], part of this deletion), one unit of
      that zombie's deletion, the count staying; if it holds another
      deletion's zombie ([ZombieObj]), that zombie becomes inner (the
      kernel adopts the deletion, a unit of its own); if it holds the last
      capability to a live CNode, that capability becomes an inner zombie in
      place; in those three cases the count stays; otherwise the count
      becomes [r] and the slot is emptied ([kdel]) if it holds a capability;
    - the last capability to a live CNode ([can_zombify]): it becomes a
      zombie whose count is the CNode's slot count;
    - any other capability: deleted ([kdel], as [KDelete]).
    So every zombie stays in the slot of the capability it replaced, and
    the deletions started from inside one another form a chain through the
    slots the counts point at. The kernel keeps the same chain with its
    zombies moved: the head, whose CNode is being emptied, in the slot the
    deletion was called on, each other zombie in the slot the next inner
    one's capability was in ([delete_step]'s swaps); the refinement test's
    abstraction moves them back. Partial, compared with the kernel: the
    last capability to a TCB is deleted at once here, where the kernel
    gives it a zombie too; a revoke's target found inside an object its
    revoke destroys (the kernel's [detached] slot) is deleted here in its
    turn; a deletion whose slot lies in a CNode it destroys (a cycle of
    CNodes) goes on here as any other. The refinement test does not
    abstract those kernel states (no comparison is made from them). A
    zombie's count and [last_at] are checked again, not assumed: [kunit]
    refuses (with no code of the kernel's) a zombie whose CNode has a child
    object, which no state of the kernel has. *)

(** The capability is a zombie. *)
Definition is_zombie (c : cap) : bool :=
  otype_eqb (c_type c) ZombieObj || otype_eqb (c_type c) ZombieInnerObj.

(** The zombie is the head of a deletion of its own, not part of an outer
    one. *)
Definition is_top (c : cap) : bool := otype_eqb (c_type c) ZombieObj.

(** The zombie that replaces capability [c] ([inner]: part of an outer
    deletion). *)
Definition zombie_of (inner : bool) (c : cap) : cap :=
  mkCap (c_obj c) (if inner then ZombieInnerObj else ZombieObj) (c_rights c) (c_badge c).

(** Every capability to object [o] is at slot [s]. *)
Definition last_at (st : kstate) (s : slot) (o : nat) : bool :=
  forallb (fun e => negb (c_obj (e_cap e) =? o) || slot_eqb (e_slot e) s) (kctes st).

(** The deletion count of the CNode [o] becomes [n]. *)
Definition set_left (st : kstate) (o n : nat) : kstate :=
  mkK (kobjs st) (kctes st) (klbl st) (upd (kwm st) o n) (kmaps st) (kbind st)
      (knext_obj st) (knext_node st).

(** The capability at [s] removed, then reclamation ([KDelete]'s effect). *)
Definition kdel (st : kstate) (s : slot) : kstate :=
  collect (set_kctes st (remove_slot s (kctes st))).

(** The capability [x] at [s] is the last one to a live CNode with no child
    object: its slot count, which a zombie replacing it starts from. *)
Definition can_zombify (st : kstate) (s : slot) (x : cte) : option nat :=
  match find_obj (kobjs st) (c_obj (e_cap x)) with
  | Some ob =>
      if otype_eqb (c_type (e_cap x)) CNodeObj && otype_eqb (o_type ob) CNodeObj
         && last_at st s (c_obj (e_cap x)) && negb (has_child (kobjs st) (c_obj (e_cap x)))
      then Some (o_size ob / slot_bytes) else None
  | None => None
  end.

(** The capability [x] at [s] replaced by its zombie (or a zombie by an
    inner one), keeping its CDT node and ancestors. *)
Definition rezombie (st : kstate) (s : slot) (x : cte) (inner : bool) : kstate :=
  set_kctes st (mkCte s (zombie_of inner (e_cap x)) (e_node x) (e_anc x) :: remove_slot s (kctes st)).

(** The capability [x] at [s] replaced by its zombie, with [n] slots to go. *)
Definition zombify (st : kstate) (s : slot) (x : cte) (inner : bool) (n : nat) : kstate :=
  set_left (rezombie st s x inner) (c_obj (e_cap x)) n.

(** One unit of work on the deletion the zombie [x] at [s] stands for: on
    its CNode's slot [r] (its count [S r]), or, if that slot holds another
    zombie (a deletion started from inside this one, or met there), on that
    zombie's deletion first, the count staying. A capability found there
    that is the last one to a CNode becomes a zombie in place (the count
    staying: the slot is looked at again once that deletion is over).
    [fuel] bounds the descent (the number of slots is enough). *)
Fixpoint kunit_in (fuel : nat) (st : kstate) (s : slot) (x : cte) : option kstate :=
  let o := c_obj (e_cap x) in
  if has_child (kobjs st) o then None
  else match kwm st o with
       | 0 => Some (kdel st s)
       | S r =>
           let st1 := set_left st o r in
           if slot_eqb (o, r) s then Some st1
           else match lookup (kctes st) (o, r) with
                | None => Some st1
                | Some y =>
                    if is_zombie (e_cap y) then
                      if is_top (e_cap y) then Some (rezombie st (o, r) y true)
                      else match fuel with 0 => None | S f => kunit_in f st (o, r) y end
                    else match can_zombify st (o, r) y with
                         | Some n => Some (zombify st (o, r) y true n)
                         | None => Some (kdel st1 (o, r))
                         end
                end
       end.

(** One unit of deletion work on the capability at [s] (above). *)
Definition kunit (st : kstate) (s : slot) : option kstate :=
  match lookup (kctes st) s with
  | None => Some st
  | Some x =>
      if is_zombie (e_cap x) then kunit_in (length (kctes st)) st s x
      else match can_zombify st s x with
           | Some n => Some (zombify st s x false n)
           | None => Some (kdel st s)
           end
  end.

(** The first descendant of the CDT node [n] in the slot list. In a state
    the refinement test abstracts from the kernel, the list is in the
    kernel's CDT order, so this is the descendant the kernel's revoke
    deletes first (the one after the revoked capability); the model's own
    operations do not keep that order. *)
Definition first_desc (st : kstate) (n : nat) : option cte :=
  find (fun e => negb (not_desc_of n e)) (kctes st).

Definition kstep (st : kstate) (o : kop) : option kstate :=
  match o with
  | KCopy t src dst => derive_into st t src dst all_rights 0
  | KMint t src dst r b => derive_into st t src dst r b
  | KMove t src dst => relocate st t src dst (fun c => if is_zombie c then None else Some c)
  | KMutate t src dst data => relocate st t src dst (fun c => kmutate c data)
  | KRotate t src piv dst =>
      if usable st t src && usable st t piv && usable st t dst
         && negb (slot_eqb src piv) && (slot_eqb dst src || kempty st dst) then
        match lookup (kctes st) src, lookup (kctes st) piv with
        | Some xs, Some xp =>
            if is_zombie (e_cap xs) || is_zombie (e_cap xp) then None else
            Some (set_kctes st (mkCte dst (e_cap xp) (e_node xp) (e_anc xp)
                                  :: mkCte piv (e_cap xs) (e_node xs) (e_anc xs)
                                  :: remove_slot src (remove_slot piv (kctes st))))
        | _, _ => None
        end
      else None
  | KDelete t s =>
      if usable st t s then
        match lookup (kctes st) s with
        | Some _ => Some (collect (set_kctes st (remove_slot s (kctes st))))
        | None => Some st
        end
      else None
  | KRevoke t s =>
      if usable st t s then
        match lookup (kctes st) s with
        | Some x =>
            if is_zombie (e_cap x) then None else
            Some (collect (set_kctes st (filter (not_desc_of (e_node x)) (kctes st))))
        | None => Some st
        end
      else None
  | KRetype t ut ty size dsts =>
      if usable st t ut then
        match is_type st ut Untyped with
        | Some x =>
            match find_obj (kobjs st) (c_obj (e_cap x)) with
            | Some u =>
                if otype_eqb (o_type u) Untyped then
                  if retype_ok ty size (length dsts) then
                    let w := if has_child (kobjs st) (o_id u) then kwm st
                             else upd (kwm st) (o_id u) 0 in
                    kretype_loop (mkK (kobjs st) (kctes st) (klbl st) w
                                      (kmaps st) (kbind st) (knext_obj st) (knext_node st))
                                 t x u ty size dsts
                  else None
                else None
            | None => None
            end
        | None => None
        end
      else None
  | KSend t ep src rcv rep dst =>
      transfer st t ep src rcv rep dst
               (fun rs rr => r_write rs && r_read rr) (fun rs rr => r_grant rs && r_grant rr) true
  | KReply t ep src caller cep dst =>
      transfer st t ep src caller cep dst
               (fun rs rc => r_read rs && r_write rc) (fun _ rc => r_grant rc || r_grant_reply rc) false
  | KBind t tcb cn =>
      if usable st t tcb && usable st t cn then
        match is_type st tcb TCBObj, is_type st cn CNodeObj with
        | Some xt, Some _ => Some (kbind_root st (c_obj (e_cap xt)) cn)
        | _, _ => None
        end
      else None
  | KMap t vs fr va =>
      if usable st t vs && usable st t fr then
        match is_type st vs PageTableObj, is_type st fr FrameObj with
        | Some xv, Some xf =>
            let v := c_obj (e_cap xv) in
            if r_read (c_rights (e_cap xf))
               && negb (existsb (fun m => (m_vs m =? v) && (m_va m =? va)) (kmaps st))
            then Some (mkK (kobjs st) (kctes st) (klbl st) (kwm st)
                           (mkMap v va (c_obj (e_cap xf)) (r_write (c_rights (e_cap xf)))
                              :: kmaps st)
                           (kbind st) (knext_obj st) (knext_node st))
            else None
        | _, _ => None
        end
      else None
  | KUnmap t vs va =>
      if usable st t vs then
        match is_type st vs PageTableObj with
        | Some xv =>
            let v := c_obj (e_cap xv) in
            Some (mkK (kobjs st) (kctes st) (klbl st) (kwm st)
                      (filter (fun m => negb ((m_vs m =? v) && (m_va m =? va))) (kmaps st))
                      (kbind st) (knext_obj st) (knext_node st))
        | None => None
        end
      else None
  | KDeleteStep t s => if usable st t s then kunit st s else None
  | KRevokeStep t s =>
      if usable st t s then
        match lookup (kctes st) s with
        | Some x =>
            if is_zombie (e_cap x) then None else
            match first_desc st (e_node x) with
            | Some d => kunit st (e_slot d)
            | None => Some st
            end
        | None => Some st
        end
      else None
  end.

Definition kstep_or_stay (st : kstate) (o : kop) : kstate :=
  match kstep st o with Some st' => st' | None => st end.

Fixpoint krun (st : kstate) (ops : list kop) : kstate :=
  match ops with
  | [] => st
  | o :: os => krun (kstep_or_stay st o) os
  end.

(** ** Boot state, as the kernel hands it to the root server
    Object 0: the root CNode with [slots] slots; object 1: the root
    server's TCB, bound to CNode 0; objects [2 + i]: the untyped regions
    [us] (base, size, label), e.g. one per domain's memory as the system
    description assigns it. Slot (0, 0) holds the root CNode capability,
    (0, 1) the TCB capability, (0, 2 + i) the capability to untyped [i],
    all with all rights. Labels: [root_lbl] for objects 0 and 1, the given
    label for each untyped. (Physical bases matter only for untypeds.) *)
Definition ut_lbl (root_lbl : nat) (us : list (nat * nat * nat)) (i : nat) : nat :=
  if i <? 2 then root_lbl
  else match nth_error us (i - 2) with Some (_, _, l) => l | None => root_lbl end.

Fixpoint boot_uts (i : nat) (us : list (nat * nat * nat)) : list obj * list cte :=
  match us with
  | [] => ([], [])
  | (b, sz, _) :: us' =>
      let '(os, es) := boot_uts (S i) us' in
      (mkObj i Untyped b sz None :: os,
       mkCte (0, i) (mkCap i Untyped all_rights 0) i [] :: es)
  end.

Definition kinit (root_lbl slots : nat) (us : list (nat * nat * nat)) : kstate :=
  let '(os, es) := boot_uts 2 us in
  mkK (mkObj 0 CNodeObj 0 (slots * slot_bytes) None :: mkObj 1 TCBObj 0 1 None :: os)
      (mkCte (0, 0) (mkCap 0 CNodeObj all_rights 0) 0 [] ::
       mkCte (0, 1) (mkCap 1 TCBObj all_rights 0) 1 [] :: es)
      (ut_lbl root_lbl us) (fun _ => 0) [] [(1, 0)]
      (2 + length us) (2 + length us).
