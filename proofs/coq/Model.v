(** * tileos capability system: abstract model

    A small, executable (functional) model of the tileos / seL4-style
    capability system: typed objects with physical address ranges,
    CNode slots holding capabilities (object, type, rights, badge),
    a capability derivation tree (CDT), untyped memory with watermark
    allocation, and the operations copy, mint, move, delete, revoke,
    retype and grant-over-IPC.

    Every operation is a total function [state -> option state]: [None]
    is an error, in which case the state is left unchanged (see [run]). *)

From Coq Require Import List Arith Bool Lia.
Import ListNotations.

(** ** Object types *)

Inductive otype :=
| Untyped | CNodeObj | TCBObj | EndpointObj | NotificationObj
| ReplyObj | FrameObj | PageTableObj
| IoSpaceControlObj | IoSpaceObj
| ZombieObj | ZombieInnerObj.
(** [ZombieObj] and [ZombieInnerObj] are types of capabilities only, never
    of objects: the kernel's [Cap::Zombie], which replaces the last
    capability to a CNode whose deletion was preempted ([Kernel.v],
    "Preempted deletion"); its [c_obj] is the CNode being destroyed.
    [ZombieInnerObj]: a zombie whose deletion is part of an outer one (a
    chain). *)
(** [IoSpaceControlObj]: the authority to issue IOSpace capabilities (VT-d,
    [kernel/src/cap.rs] [Cap::IoSpaceControl]); [IoSpaceObj]: the DMA
    address space of one PCI function ([Cap::IoSpace]). Only [Kernel.v] and
    [IoSpace.v] give them operations; elsewhere they are objects like any
    other. *)

Definition otype_eq_dec : forall a b : otype, {a = b} + {a <> b}.
Proof. decide equality. Defined.

Definition otype_eqb (a b : otype) : bool :=
  if otype_eq_dec a b then true else false.

Lemma otype_eqb_true : forall a b, otype_eqb a b = true -> a = b.
Proof. unfold otype_eqb; intros a b; destruct (otype_eq_dec a b); congruence. Qed.

(** ** Rights *)

Record rights := mkRights {
  r_read : bool; r_write : bool; r_grant : bool; r_grant_reply : bool }.

Definition all_rights := mkRights true true true true.

(** [rsub a b]: the rights [a] are a subset of the rights [b]. *)
Definition rsub (a b : rights) : Prop :=
  (r_read a = true -> r_read b = true) /\
  (r_write a = true -> r_write b = true) /\
  (r_grant a = true -> r_grant b = true) /\
  (r_grant_reply a = true -> r_grant_reply b = true).

Definition rsubb (a b : rights) : bool :=
  implb (r_read a) (r_read b) && implb (r_write a) (r_write b) &&
  implb (r_grant a) (r_grant b) && implb (r_grant_reply a) (r_grant_reply b).

Lemma rsubb_sound : forall a b, rsubb a b = true -> rsub a b.
Proof.
  intros [a1 a2 a3 a4] [b1 b2 b3 b4]; unfold rsubb, rsub; simpl.
  destruct a1, a2, a3, a4, b1, b2, b3, b4; simpl; intuition congruence.
Qed.

Lemma rsub_refl : forall a, rsub a a.
Proof. unfold rsub; intuition. Qed.

Lemma rsub_trans : forall a b c, rsub a b -> rsub b c -> rsub a c.
Proof. unfold rsub; intuition. Qed.

(** ** Capabilities, slots, CDT entries, objects *)

(** Badge [0] means "unbadged". *)
Record cap := mkCap {
  c_obj : nat; c_type : otype; c_rights : rights; c_badge : nat }.

(** A slot is (CNode object id, index). *)
Definition slot := (nat * nat)%type.

Definition slot_eqb (a b : slot) : bool :=
  (fst a =? fst b) && (snd a =? snd b).

Lemma slot_eqb_true : forall a b, slot_eqb a b = true <-> a = b.
Proof.
  intros [a1 a2] [b1 b2]; unfold slot_eqb; simpl.
  rewrite andb_true_iff, !Nat.eqb_eq; split.
  - intros [-> ->]; reflexivity.
  - intros H; inversion H; auto.
Qed.

(** A CDT entry: the capability stored in a slot, plus its CDT node.
    [e_node] is a unique, never reused node name; [e_anc] is the list of
    the names of the node's ancestors at derivation time, nearest first.
    The CDT parent of an entry is its nearest ancestor that is still
    present (see [cdt_parent] in Invariants.v); when an entry is deleted
    its children are thereby re-attached to its own parent, as in seL4. *)
Record cte := mkCte {
  e_slot : slot; e_cap : cap; e_node : nat; e_anc : list nat }.

(** An object occupies the physical range [o_base, o_base + o_size).
    [o_parent] is the untyped object it was retyped from. *)
Record obj := mkObj {
  o_id : nat; o_type : otype; o_base : nat; o_size : nat;
  o_parent : option nat }.

(** ** System state *)

Record state := mkState {
  objs : list obj;           (** live objects *)
  ctes : list cte;           (** occupied slots *)
  owner : nat -> nat;        (** CNode id -> owning domain (static) *)
  wm : nat -> nat;           (** untyped watermark (offset), by object id *)
  next_obj : nat;            (** next fresh object id *)
  next_node : nat            (** next fresh CDT node name *)
}.

Definition dom_of (st : state) (s : slot) : nat := owner st (fst s).

Definition lookup (l : list cte) (s : slot) : option cte :=
  find (fun e => slot_eqb (e_slot e) s) l.

Definition is_empty (l : list cte) (s : slot) : bool :=
  match lookup l s with None => true | Some _ => false end.

Definition find_obj (os : list obj) (i : nat) : option obj :=
  find (fun o => o_id o =? i) os.

Definition is_child_of (p : nat) (o : obj) : bool :=
  match o_parent o with Some q => q =? p | None => false end.

Definition has_child (os : list obj) (p : nat) : bool :=
  existsb (is_child_of p) os.

Definition has_cap (l : list cte) (i : nat) : bool :=
  existsb (fun e => c_obj (e_cap e) =? i) l.

(** ** Object reclamation
    An object is destroyed once no capability refers to it and it has no
    live child object. One pass may expose new garbage, so we iterate. *)

Definition gc_pass (l : list cte) (os : list obj) : list obj :=
  filter (fun o => has_cap l (o_id o) || has_child os (o_id o)) os.

Fixpoint gc_iter (n : nat) (l : list cte) (os : list obj) : list obj :=
  match n with
  | 0 => os
  | S n' => gc_iter n' l (gc_pass l os)
  end.

(** Replace the slot contents and reclaim unreferenced objects. *)
Definition set_ctes (st : state) (l : list cte) : state :=
  mkState (gc_iter (S (length (objs st))) l (objs st)) l (owner st) (wm st)
          (next_obj st) (next_node st).

(** Insert, at [dst], a capability [c] derived from the entry [p]:
    the new entry is a CDT child of [p]. *)
Definition insert_derived (st : state) (p : cte) (dst : slot) (c : cap) : state :=
  mkState (objs st)
          (mkCte dst c (next_node st) (e_node p :: e_anc p) :: ctes st)
          (owner st) (wm st) (next_obj st) (S (next_node st)).

Definition remove_slot (s : slot) (l : list cte) : list cte :=
  filter (fun e => negb (slot_eqb (e_slot e) s)) l.

Definition not_desc_of (n : nat) (e : cte) : bool :=
  negb (existsb (Nat.eqb n) (e_anc e)).

(** ** Retype: one object at the watermark of untyped [u] *)

Definition upd (f : nat -> nat) (k v : nat) : nat -> nat :=
  fun i => if i =? k then v else f i.

Definition create_one (st : state) (a : nat) (x : cte) (u : obj)
           (ty : otype) (size : nat) (d : slot) : option state :=
  if (dom_of st d =? a) && is_empty (ctes st) d &&
     (wm st (o_id u) + size <=? o_size u)
  then
    let n := next_obj st in
    let no := mkObj n ty (o_base u + wm st (o_id u)) size (Some (o_id u)) in
    let st1 := mkState (no :: objs st) (ctes st) (owner st)
                       (upd (wm st) (o_id u) (wm st (o_id u) + size))
                       (S n) (next_node st) in
    Some (insert_derived st1 x d (mkCap n ty (c_rights (e_cap x)) 0))
  else None.

Fixpoint retype_loop (st : state) (a : nat) (x : cte) (u : obj)
         (ty : otype) (size : nat) (ds : list slot) : option state :=
  match ds with
  | [] => Some st
  | d :: ds' =>
      match create_one st a x u ty size d with
      | Some st' => retype_loop st' a x u ty size ds'
      | None => None
      end
  end.

Definition reset_wm (st : state) (u : nat) : state :=
  mkState (objs st) (ctes st) (owner st) (upd (wm st) u 0)
          (next_obj st) (next_node st).

(** ** Operations; [actor] is the domain performing the operation *)

Inductive op :=
| Copy (actor : nat) (src dst : slot)
| Mint (actor : nat) (src dst : slot) (r : rights) (badge : nat)
| Move (actor : nat) (src dst : slot)
| Delete (actor : nat) (s : slot)
| Revoke (actor : nat) (s : slot)
| Retype (actor : nat) (ut : slot) (ty : otype) (size : nat) (dsts : list slot)
| Grant (actor : nat) (ep src : slot) (rep dst : slot)
| Push (actor : nat) (cn src dst : slot).
(** [Grant a ep src rep dst]: domain [a] sends, on the endpoint named by its
    capability at [ep], the capability at [src]; the receiver is the domain
    owning [rep], which holds a capability to the same endpoint at [rep]
    (it is blocked in a receive) and receives the capability into [dst].
    [Push a cn src dst]: domain [a] copies its capability at [src] into the
    slot [dst] of another CNode, named by the CNode capability (with the
    write right) that [a] holds at [cn]; this is how a root server
    distributes authority to the CSpaces of the domains it builds. *)

Definition owned (st : state) (a : nat) (s : slot) : bool := dom_of st s =? a.

Definition step (st : state) (o : op) : option state :=
  match o with
  | Copy a src dst =>
      if owned st a src && owned st a dst && is_empty (ctes st) dst then
        match lookup (ctes st) src with
        | Some x => Some (insert_derived st x dst (e_cap x))
        | None => None
        end
      else None
  | Mint a src dst r b =>
      if owned st a src && owned st a dst && is_empty (ctes st) dst then
        match lookup (ctes st) src with
        | Some x =>
            let c := e_cap x in
            if rsubb r (c_rights c) then
              if b =? 0 then
                Some (insert_derived st x dst (mkCap (c_obj c) (c_type c) r (c_badge c)))
              else if c_badge c =? 0 then
                Some (insert_derived st x dst (mkCap (c_obj c) (c_type c) r b))
              else None
            else None
        | None => None
        end
      else None
  | Move a src dst =>
      if owned st a src && owned st a dst && is_empty (ctes st) dst then
        match lookup (ctes st) src with
        | Some x =>
            Some (set_ctes st (mkCte dst (e_cap x) (e_node x) (e_anc x)
                                 :: remove_slot src (ctes st)))
        | None => None
        end
      else None
  | Delete a s =>
      if owned st a s then
        match lookup (ctes st) s with
        | Some _ => Some (set_ctes st (remove_slot s (ctes st)))
        | None => None
        end
      else None
  | Revoke a s =>
      if owned st a s then
        match lookup (ctes st) s with
        | Some x => Some (set_ctes st (filter (not_desc_of (e_node x)) (ctes st)))
        | None => None
        end
      else None
  | Retype a ut ty size dsts =>
      if owned st a ut then
        match lookup (ctes st) ut with
        | Some x =>
            if otype_eqb (c_type (e_cap x)) Untyped then
              match find_obj (objs st) (c_obj (e_cap x)) with
              | Some u =>
                  if otype_eqb (o_type u) Untyped && negb (has_child (objs st) (o_id u))
                     && negb (otype_eqb ty CNodeObj)
                  then retype_loop (reset_wm st (o_id u)) a x u ty size dsts
                  else None
              | None => None
              end
            else None
        | None => None
        end
      else None
  | Grant a ep src rep dst =>
      if owned st a ep && owned st a src && (dom_of st dst =? dom_of st rep)
         && is_empty (ctes st) dst then
        match lookup (ctes st) ep, lookup (ctes st) rep, lookup (ctes st) src with
        | Some xe, Some xr, Some z =>
            let ce := e_cap xe in
            let cr := e_cap xr in
            if otype_eqb (c_type ce) EndpointObj && otype_eqb (c_type cr) EndpointObj
               && (c_obj ce =? c_obj cr)
               && r_grant (c_rights ce) && r_write (c_rights ce) && r_read (c_rights cr)
            then Some (insert_derived st z dst (e_cap z))
            else None
        | _, _, _ => None
        end
      else None
  | Push a cn src dst =>
      if owned st a cn && owned st a src && is_empty (ctes st) dst then
        match lookup (ctes st) cn, lookup (ctes st) src with
        | Some xc, Some z =>
            if otype_eqb (c_type (e_cap xc)) CNodeObj && r_write (c_rights (e_cap xc))
               && (c_obj (e_cap xc) =? fst dst)
            then Some (insert_derived st z dst (e_cap z))
            else None
        | _, _ => None
        end
      else None
  end.

(** Errors leave the state unchanged. *)
Definition step_or_stay (st : state) (o : op) : state :=
  match step st o with Some st' => st' | None => st end.

Fixpoint run (st : state) (ops : list op) : state :=
  match ops with
  | [] => st
  | o :: os => run (step_or_stay st o) os
  end.

(** ** Boot state
    Objects: one untyped (id 0) covering [0, mem) and [n] CNodes (ids 1..n,
    each of size 1, placed after the untyped memory); CNode [j] belongs to
    domain [own j] (CSpace layout is static: retype cannot create CNodes).
    The root domain [own 1] holds, in CNode 1, the untyped capability at
    slot (1, 0) and a CNode capability to CNode [j] at slot (1, j); all
    with all rights, unbadged, each a CDT root. *)
Definition boot_cnode (mem j : nat) : obj := mkObj j CNodeObj (mem + j) 1 None.

Definition boot_cnode_cap (j : nat) : cte :=
  mkCte (1, j) (mkCap j CNodeObj all_rights 0) j [].

Definition init (own : nat -> nat) (mem n : nat) : state :=
  mkState (mkObj 0 Untyped 0 mem None :: map (boot_cnode mem) (seq 1 n))
          (mkCte (1, 0) (mkCap 0 Untyped all_rights 0) 0 [] :: map boot_cnode_cap (seq 1 n))
          own (fun _ => 0) (S n) (S n).
