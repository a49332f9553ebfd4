(** * Mapping state: page-table contents, address spaces, and the mapping invariant

    A small model of the kernel's virtual-memory state (issue 11, item 2),
    separate from the capability model of [Model.v]:

    - paging structures and frames are objects named by numbers; the entries
      of every structure form one function [ents : structure -> index ->
      entry] (an entry is empty, points to a structure, or maps a frame);
    - an address space is an ASID with a root structure (the PML4):
      [roots : asid -> option root];
    - capabilities sit in slots [0 .. nslots): a frame capability records
      its write right and its mapping; a structure capability its mapping;
      a root capability its root and ASID. A mapping is (ASID, path, index):
      the path of indices from the root to the structure holding the entry,
      and the entry's index in it; a virtual address is path ++ [index];
    - the thread whose VSpace capability is in slot [s] runs in the address
      space of the root capability there, or in the kernel-only address
      space (no user translations) if there is none ([runs_in]).

    Levels, page sizes, rights other than write, TLBs and physical memory
    reuse are not modelled (objects get fresh numbers; memory reuse is the
    subject of [Theorems.no_overlap] in the capability model).

    Operations mirror [kernel/src/vspace.rs]: map and unmap a structure
    (unmap clears all its entries, and needs the last capability), map
    (or re-map at the same place) and unmap a frame, delete a capability
    (frames unmapped; the last capability to a structure unmaps and clears
    it; the last capability to a root frees its ASID), copy (a structure
    only while mapped, keeping its mapping; a frame copy is unmapped), and
    retype (fresh, empty objects; a root takes a free ASID).

    The invariant [Inv] contains the mapping invariant of
    docs/architecture.md: every entry reachable from a live address space
    that maps a frame is backed by a frame capability recording exactly
    that (ASID, path, index) ([i_frames]); every reachable entry that points
    to a structure is backed by a capability to it, and every capability to
    it records that place ([i_tables]). [minv_step] proves [Inv] preserved
    by every operation, [minv_run] by every sequence from the empty state. *)

From Coq Require Import List Arith Bool Lia.
Import ListNotations.

Inductive entry := Empty | ETable (c : nat) | EFrame (f : nat).

(** A recorded mapping: ASID, path to the structure holding the entry, index. *)
Definition place := (nat * list nat * nat)%type.

Inductive kind :=
| KFrame (f : nat) (w : bool) (m : option place)
| KTable (c : nat) (m : option place)
| KRoot (r : nat) (a : nat).

Definition kobj (x : kind) : nat :=
  match x with KFrame f _ _ => f | KTable c _ => c | KRoot r _ => r end.

Record mstate := mkM {
  ents : nat -> nat -> entry;
  roots : nat -> option nat;
  caps : nat -> option kind;
  nslots : nat;
  next : nat }.

(** The structure reached from [t] by following the indices of [p]. *)
Fixpoint walk (E : nat -> nat -> entry) (t : nat) (p : list nat) : option nat :=
  match p with
  | [] => Some t
  | j :: q => match E t j with ETable c => walk E c q | _ => None end
  end.

(** Structure [t] is reached at path [p] in the live address space [a]. *)
Definition reach (st : mstate) (a : nat) (p : list nat) (t : nat) : Prop :=
  exists r, roots st a = Some r /\ walk (ents st) r p = Some t.

(** The thread whose VSpace slot is [s] runs in address space [a]. *)
Definition runs_in (st : mstate) (s a : nat) : Prop :=
  exists r, caps st s = Some (KRoot r a).

(** ** Operations *)

Definition upd_e (E : nat -> nat -> entry) t i x : nat -> nat -> entry :=
  fun t' i' => if (t' =? t) && (i' =? i) then x else E t' i'.
Definition clear_t (E : nat -> nat -> entry) c : nat -> nat -> entry :=
  fun t' i' => if t' =? c then Empty else E t' i'.
Definition upd_c (C : nat -> option kind) k v : nat -> option kind :=
  fun k' => if k' =? k then v else C k'.
Definition upd_r (R : nat -> option nat) a v : nat -> option nat :=
  fun a' => if a' =? a then v else R a'.

Definition entry_eqb (x y : entry) : bool :=
  match x, y with
  | Empty, Empty => true
  | ETable a, ETable b => a =? b
  | EFrame a, EFrame b => a =? b
  | _, _ => false
  end.

Fixpoint path_eqb (p q : list nat) : bool :=
  match p, q with
  | [], [] => true
  | x :: p', y :: q' => (x =? y) && path_eqb p' q'
  | _, _ => false
  end.

Lemma path_eqb_true : forall p q, path_eqb p q = true -> p = q.
Proof.
  induction p as [|x p IH]; intros [|y q] H; simpl in H; try discriminate; auto.
  apply andb_true_iff in H; destruct H as [H1 H2].
  apply Nat.eqb_eq in H1; subst; f_equal; auto.
Qed.

Definition place_eqb (x y : place) : bool :=
  match x, y with
  | (a, p, i), (b, q, j) => (a =? b) && path_eqb p q && (i =? j)
  end.

Definition names_table (c : nat) (x : option kind) : bool :=
  match x with Some (KTable c' _) => c' =? c | _ => false end.
Definition names_root (r : nat) (x : option kind) : bool :=
  match x with Some (KRoot r' _) => r' =? r | _ => false end.

(** No slot other than [k] holds a capability [P] accepts. *)
Definition final_by (P : option kind -> bool) (st : mstate) (k : nat) : bool :=
  forallb (fun k' => (k' =? k) || negb (P (caps st k'))) (seq 0 (nslots st)).

(** Removes the entry at place [m] if it is [x] and the address space is live. *)
Definition unlink (E : nat -> nat -> entry) (R : nat -> option nat) (m : option place) (x : entry) :=
  match m with
  | Some (a, p, i) =>
      match R a with
      | Some r =>
          match walk E r p with
          | Some t => if entry_eqb (E t i) x then upd_e E t i Empty else E
          | None => E
          end
      | None => E
      end
  | None => E
  end.

(** What deleting the capability in slot [k] does to entries and ASIDs. *)
Definition fin_ents (st : mstate) (k : nat) : nat -> nat -> entry :=
  match caps st k with
  | Some (KFrame f _ m) => unlink (ents st) (roots st) m (EFrame f)
  | Some (KTable c m) =>
      if final_by (names_table c) st k
      then clear_t (unlink (ents st) (roots st) m (ETable c)) c
      else ents st
  | _ => ents st
  end.
Definition fin_roots (st : mstate) (k : nat) : nat -> option nat :=
  match caps st k with
  | Some (KRoot r a) => if final_by (names_root r) st k then upd_r (roots st) a None else roots st
  | _ => roots st
  end.

(** Copy: a frame copy is unmapped; a structure is copied only while mapped. *)
Definition derive (x : kind) : option kind :=
  match x with
  | KFrame f w _ => Some (KFrame f w None)
  | KTable c (Some m) => Some (KTable c (Some m))
  | KTable _ None => None
  | KRoot r a => Some (KRoot r a)
  end.

Inductive mop :=
| MapTable (k s : nat) (p : list nat) (i : nat)
| UnmapTable (k : nat)
| MapFrame (k s : nat) (p : list nat) (i : nat)
| UnmapFrame (k : nat)
| Delete (k : nat)
| Copy (k k' : nat)
| RetypeFrame (k : nat) (w : bool)
| RetypeTable (k : nat)
| RetypeRoot (k a : nat).

(** May a frame whose capability records [m] be entered at [(a, p, i)] over [e]?
    Over an empty entry; on a re-map (same place) also over its own entry. *)
Definition frame_ok (m : option place) (e : entry) (f : nat) (pl : place) : bool :=
  match m, e with
  | None, Empty => true
  | Some m', Empty => place_eqb m' pl
  | Some m', EFrame f' => place_eqb m' pl && (f' =? f)
  | _, _ => false
  end.

Definition with_caps (st : mstate) E C : mstate := mkM E (roots st) C (nslots st) (next st).

Definition mstep (st : mstate) (o : mop) : option mstate :=
  match o with
  | MapTable k s p i =>
      match caps st k, caps st s with
      | Some (KTable c None), Some (KRoot r a) =>
          match walk (ents st) r p with
          | Some t =>
              match ents st t i with
              | Empty => Some (with_caps st (upd_e (ents st) t i (ETable c))
                                 (upd_c (caps st) k (Some (KTable c (Some (a, p, i))))))
              | _ => None
              end
          | None => None
          end
      | _, _ => None
      end
  | UnmapTable k =>
      match caps st k with
      | Some (KTable c (Some m)) =>
          if final_by (names_table c) st k
          then Some (with_caps st (clear_t (unlink (ents st) (roots st) (Some m) (ETable c)) c)
                       (upd_c (caps st) k (Some (KTable c None))))
          else None
      | Some (KTable _ None) => Some st
      | _ => None
      end
  | MapFrame k s p i =>
      match caps st k, caps st s with
      | Some (KFrame f w m), Some (KRoot r a) =>
          match walk (ents st) r p with
          | Some t =>
              if frame_ok m (ents st t i) f (a, p, i)
              then Some (with_caps st (upd_e (ents st) t i (EFrame f))
                           (upd_c (caps st) k (Some (KFrame f w (Some (a, p, i))))))
              else None
          | None => None
          end
      | _, _ => None
      end
  | UnmapFrame k =>
      match caps st k with
      | Some (KFrame f w m) =>
          Some (with_caps st (unlink (ents st) (roots st) m (EFrame f)) (upd_c (caps st) k (Some (KFrame f w None))))
      | _ => None
      end
  | Delete k =>
      match caps st k with
      | Some _ => Some (mkM (fin_ents st k) (fin_roots st k) (upd_c (caps st) k None) (nslots st) (next st))
      | None => None
      end
  | Copy k k' =>
      match caps st k, caps st k' with
      | Some x, None =>
          match derive x with
          | Some y => if k' <? nslots st then Some (with_caps st (ents st) (upd_c (caps st) k' (Some y))) else None
          | None => None
          end
      | _, _ => None
      end
  | RetypeFrame k w =>
      match caps st k with
      | None => if k <? nslots st
                then Some (mkM (ents st) (roots st) (upd_c (caps st) k (Some (KFrame (next st) w None))) (nslots st) (S (next st)))
                else None
      | Some _ => None
      end
  | RetypeTable k =>
      match caps st k with
      | None => if k <? nslots st
                then Some (mkM (ents st) (roots st) (upd_c (caps st) k (Some (KTable (next st) None))) (nslots st) (S (next st)))
                else None
      | Some _ => None
      end
  | RetypeRoot k a =>
      match caps st k, roots st a with
      | None, None => if k <? nslots st
                      then Some (mkM (ents st) (upd_r (roots st) a (Some (next st)))
                                   (upd_c (caps st) k (Some (KRoot (next st) a))) (nslots st) (S (next st)))
                      else None
      | _, _ => None
      end
  end.

Definition mstep_or_stay (st : mstate) (o : mop) : mstate :=
  match mstep st o with Some st' => st' | None => st end.

Fixpoint mrun (st : mstate) (ops : list mop) : mstate :=
  match ops with [] => st | o :: rest => mrun (mstep_or_stay st o) rest end.

(** The empty state: [n] empty slots, no objects, no address spaces. *)
Definition minit (n : nat) : mstate :=
  mkM (fun _ _ => Empty) (fun _ => None) (fun _ => None) n 0.

(** ** The invariant *)

Record Inv (st : mstate) : Prop := {
  i_fresh : forall t i, next st <= t -> ents st t i = Empty;
  i_ents_lt : forall t i c, ents st t i = ETable c -> c < next st;
  i_roots_lt : forall a r, roots st a = Some r -> r < next st;
  i_caps_lt : forall k x, caps st k = Some x -> kobj x < next st /\ k < nslots st;
  i_root_cap : forall k r a, caps st k = Some (KRoot r a) -> roots st a = Some r;
  i_roots_inj : forall a a' r, roots st a = Some r -> roots st a' = Some r -> a = a';
  i_table_not_root : forall k c m a, caps st k = Some (KTable c m) -> roots st a <> Some c;
  (** The mapping invariant, frames: a reachable entry mapping a frame is
      backed by a capability to that frame recording that place. *)
  i_frames : forall a p t i f, reach st a p t -> ents st t i = EFrame f ->
      exists k w, caps st k = Some (KFrame f w (Some (a, p, i)));
  (** The mapping invariant, structures: a reachable entry pointing to a
      structure is backed by a capability to it, and every capability to it
      records that place. *)
  i_tables : forall a p t i c, reach st a p t -> ents st t i = ETable c ->
      (exists k m, caps st k = Some (KTable c m)) /\
      (forall k m, caps st k = Some (KTable c m) -> m = Some (a, p, i));
  (** An unmapped structure is empty, and its capability is the only one. *)
  i_unmapped_empty : forall k c i, caps st k = Some (KTable c None) -> ents st c i = Empty;
  i_unmapped_unique : forall k k' c m, caps st k = Some (KTable c None) ->
      caps st k' = Some (KTable c m) -> k = k'
}.

(** ** Walks *)

Lemma walk_app : forall E p q t,
  walk E t (p ++ q) = match walk E t p with Some x => walk E x q | None => None end.
Proof.
  induction p as [|j p IH]; intros q t; simpl; auto.
  destruct (E t j); auto.
Qed.

Lemma walk_snoc : forall E p j t c,
  walk E t (p ++ [j]) = Some c -> exists x, walk E t p = Some x /\ E x j = ETable c.
Proof.
  intros E p j t c H; rewrite walk_app in H.
  destruct (walk E t p) as [x|]; [|discriminate].
  simpl in H; exists x; split; auto.
  destruct (E x j); congruence.
Qed.

Lemma walk_sub : forall (E E' : nat -> nat -> entry),
  (forall t i, E' t i = Empty \/ E' t i = E t i) ->
  forall p t x, walk E' t p = Some x -> walk E t p = Some x.
Proof.
  intros E E' Hs; induction p as [|j p IH]; intros t x H; simpl in *; auto.
  destruct (Hs t j) as [He|He]; rewrite He in H; [discriminate|].
  destruct (E t j); try discriminate; auto.
Qed.

Lemma walk_same : forall (E E' : nat -> nat -> entry),
  (forall t i c, E' t i = ETable c <-> E t i = ETable c) ->
  forall p t, walk E' t p = walk E t p.
Proof.
  intros E E' Hs; induction p as [|j p IH]; intros t; simpl; auto.
  destruct (E t j) eqn:He.
  - destruct (E' t j) eqn:He'; auto. apply Hs in He'. congruence.
  - assert (E' t j = ETable c) by (apply Hs; auto). rewrite H; auto.
  - destruct (E' t j) eqn:He'; auto. apply Hs in He'. congruence.
Qed.

Lemma walk_lt : forall E n,
  (forall t i c, E t i = ETable c -> c < n) ->
  forall p t x, t < n -> walk E t p = Some x -> x < n.
Proof.
  intros E n Hl; induction p as [|j p IH]; intros t x Ht H; simpl in H.
  - congruence.
  - destruct (E t j) eqn:He; try discriminate. eapply IH; [eapply Hl; eauto|eauto].
Qed.

Lemma walk_fresh : forall E n,
  (forall i, E n i = Empty) -> forall p x, walk E n p = Some x -> p = [] /\ x = n.
Proof.
  intros E n Hf [|j p] x H; simpl in H.
  - split; congruence.
  - rewrite Hf in H; discriminate.
Qed.

(** Entering structure [c] (empty, and not [t]) at [(t, i)]: a new walk
    either existed before or ends at [c] through the new entry. *)
Lemma walk_map : forall E t i c,
  (forall j, E c j = Empty) -> c <> t ->
  forall q x y, walk (upd_e E t i (ETable c)) x q = Some y ->
  walk E x q = Some y \/ (exists q1, q = q1 ++ [i] /\ walk E x q1 = Some t /\ y = c).
Proof.
  intros E t i c Hc Hct; induction q as [|j q IH]; intros x y H; simpl in H.
  - left; simpl; auto.
  - unfold upd_e at 1 in H.
    destruct ((x =? t) && (j =? i)) eqn:Hxj.
    + apply andb_true_iff in Hxj; destruct Hxj as [Hx Hj].
      apply Nat.eqb_eq in Hx; apply Nat.eqb_eq in Hj; subst.
      destruct q as [|j' q].
      * right; exists []; simpl in *; repeat split; congruence.
      * simpl in H. unfold upd_e in H.
        assert (Hn : (c =? t) = false) by (apply Nat.eqb_neq; auto).
        rewrite Hn in H; simpl in H. rewrite Hc in H; discriminate.
    + simpl. destruct (E x j) eqn:He; try discriminate.
      destruct (IH _ _ H) as [Hw|[q1 [Hq [Hw Hy]]]].
      * left; auto.
      * right; exists (j :: q1); subst; simpl; rewrite He; auto.
Qed.

(** ** Consequences of the invariant *)

Lemma list_snoc_cases : forall (p : list nat), p = [] \/ exists q j, p = q ++ [j].
Proof.
  intros p; destruct p as [|x p]; [left; auto|right].
  destruct (exists_last (l := x :: p) ltac:(discriminate)) as [q [j Hq]].
  exists q, j; auto.
Qed.

(** A structure is reached at one place at most. *)
Lemma reach_unique : forall st, Inv st -> forall a1 p1 a2 p2 t,
  reach st a1 p1 t -> reach st a2 p2 t -> a1 = a2 /\ p1 = p2.
Proof.
  intros st I a1 p1 a2 p2 t [r1 [Hr1 H1]] [r2 [Hr2 H2]].
  destruct (list_snoc_cases p1) as [->|[q1 [j1 ->]]];
  destruct (list_snoc_cases p2) as [->|[q2 [j2 ->]]].
  - simpl in *. inversion H1; inversion H2; subst.
    split; auto. eapply i_roots_inj; eauto.
  - exfalso. simpl in H1. injection H1 as H1. subst r1.
    destruct (walk_snoc _ _ _ _ _ H2) as [x [Hx He]].
    destruct (i_tables _ I a2 q2 x j2 t ltac:(exists r2; auto) He) as [[k [m Hk]] _].
    eapply i_table_not_root; eauto.
  - exfalso. simpl in H2. injection H2 as H2. subst r2.
    destruct (walk_snoc _ _ _ _ _ H1) as [x [Hx He]].
    destruct (i_tables _ I a1 q1 x j1 t ltac:(exists r1; auto) He) as [[k [m Hk]] _].
    eapply i_table_not_root; eauto.
  - destruct (walk_snoc _ _ _ _ _ H1) as [x1 [Hx1 He1]].
    destruct (walk_snoc _ _ _ _ _ H2) as [x2 [Hx2 He2]].
    destruct (i_tables _ I a1 q1 x1 j1 t ltac:(exists r1; auto) He1) as [[k [m Hk]] A1].
    destruct (i_tables _ I a2 q2 x2 j2 t ltac:(exists r2; auto) He2) as [_ A2].
    pose proof (A1 _ _ Hk) as E1; pose proof (A2 _ _ Hk) as E2.
    rewrite E1 in E2; inversion E2; subst; auto.
Qed.

(** An unmapped structure is reached nowhere. *)
Lemma unmapped_unreached : forall st, Inv st -> forall k c a p,
  caps st k = Some (KTable c None) -> ~ reach st a p c.
Proof.
  intros st I k c a p Hk [r [Hr Hw]].
  destruct (list_snoc_cases p) as [->|[q [j ->]]].
  - simpl in Hw; inversion Hw; subst. eapply i_table_not_root; eauto.
  - destruct (walk_snoc _ _ _ _ _ Hw) as [x [Hx He]].
    destruct (i_tables _ I a q x j c ltac:(exists r; auto) He) as [_ A].
    specialize (A _ _ Hk); discriminate.
Qed.

Lemma reach_lt : forall st, Inv st -> forall a p t, reach st a p t -> t < next st.
Proof.
  intros st I a p t [r [Hr Hw]].
  eapply walk_lt; [apply (i_ents_lt _ I)| eapply (i_roots_lt _ I); eauto | eauto].
Qed.

(** The theorem the issue asks for: every translation reachable from a live
    address space — in particular from the one a thread runs in — is
    backed by a live frame capability mapped at that address there. *)
Theorem translations_backed : forall st, Inv st -> forall a p t i f,
  reach st a p t -> ents st t i = EFrame f ->
  exists k w, caps st k = Some (KFrame f w (Some (a, p, i))).
Proof. intros st I; apply (i_frames _ I). Qed.

Theorem thread_translations_backed : forall st s a p t i f, Inv st ->
  runs_in st s a -> reach st a p t -> ents st t i = EFrame f ->
  exists k w, caps st k = Some (KFrame f w (Some (a, p, i))).
Proof. intros st s a p t i f I _; apply (i_frames _ I). Qed.

(** A thread runs in a live address space (or the kernel-only one). *)
Theorem thread_space_live : forall st s a, Inv st -> runs_in st s a ->
  exists r, roots st a = Some r.
Proof. intros st s a I [r Hr]; exists r; eapply i_root_cap; eauto. Qed.

(** ** Helper lemmas *)

Lemma upd_c_same : forall C k v, upd_c C k v k = v.
Proof. intros; unfold upd_c; rewrite Nat.eqb_refl; auto. Qed.

Lemma upd_c_other : forall C k v k', k' <> k -> upd_c C k v k' = C k'.
Proof. intros; unfold upd_c; apply Nat.eqb_neq in H; rewrite H; auto. Qed.

Lemma upd_c_case : forall C k v k' x, upd_c C k v k' = x ->
  (k' = k /\ v = x) \/ (k' <> k /\ C k' = x).
Proof.
  intros C k v k' x H; unfold upd_c in H.
  destruct (k' =? k) eqn:E; [apply Nat.eqb_eq in E | apply Nat.eqb_neq in E]; auto.
Qed.

Lemma upd_e_case : forall E t i x t' i',
  (t' = t /\ i' = i /\ upd_e E t i x t' i' = x) \/
  ((t' <> t \/ i' <> i) /\ upd_e E t i x t' i' = E t' i').
Proof.
  intros; unfold upd_e.
  destruct (t' =? t) eqn:Ht; destruct (i' =? i) eqn:Hi; simpl;
    rewrite ?Nat.eqb_eq, ?Nat.eqb_neq in *; auto.
Qed.

Lemma upd_r_case : forall R a v a' x, upd_r R a v a' = x ->
  (a' = a /\ v = x) \/ (a' <> a /\ R a' = x).
Proof.
  intros R a v a' x H; unfold upd_r in H.
  destruct (a' =? a) eqn:E; [apply Nat.eqb_eq in E | apply Nat.eqb_neq in E]; auto.
Qed.

Definition sub (E' E : nat -> nat -> entry) : Prop :=
  forall t i, E' t i = Empty \/ E' t i = E t i.

Lemma sub_refl : forall E, sub E E.
Proof. unfold sub; auto. Qed.

Lemma sub_trans : forall E1 E2 E3, sub E1 E2 -> sub E2 E3 -> sub E1 E3.
Proof.
  unfold sub; intros E1 E2 E3 H1 H2 t i.
  destruct (H1 t i) as [H|H]; auto. rewrite H; auto.
Qed.

Lemma sub_entry : forall E' E t i x, sub E' E -> E' t i = x -> x <> Empty -> E t i = x.
Proof.
  intros E' E t i x Hs H Hx; destruct (Hs t i) as [H'|H']; congruence.
Qed.

Lemma unlink_sub : forall E R m x, sub (unlink E R m x) E.
Proof.
  intros E R m x t' i'; unfold unlink.
  destruct m as [[[a p] i]|]; auto.
  destruct (R a) as [r|]; auto.
  destruct (walk E r p) as [t|]; auto.
  destruct (entry_eqb (E t i) x); auto.
  destruct (upd_e_case E t i Empty t' i') as [[_ [_ H]]|[_ H]]; auto.
Qed.

Lemma entry_eqb_refl : forall x, entry_eqb x x = true.
Proof. destruct x; simpl; auto using Nat.eqb_refl. Qed.

Lemma unlink_removes : forall E R a p i x r t,
  R a = Some r -> walk E r p = Some t -> E t i = x ->
  unlink E R (Some (a, p, i)) x t i = Empty.
Proof.
  intros E R a p i x r t Hr Hw He; unfold unlink; rewrite Hr, Hw, He, entry_eqb_refl.
  unfold upd_e; rewrite !Nat.eqb_refl; auto.
Qed.

Lemma clear_sub : forall E c, sub (clear_t E c) E.
Proof. intros E c t i; unfold clear_t; destruct (t =? c); auto. Qed.

Lemma clear_here : forall E c i, clear_t E c c i = Empty.
Proof. intros; unfold clear_t; rewrite Nat.eqb_refl; auto. Qed.

Lemma clear_other : forall E c t i, t <> c -> clear_t E c t i = E t i.
Proof. intros; unfold clear_t; apply Nat.eqb_neq in H; rewrite H; auto. Qed.

Lemma final_other : forall P st k k', final_by P st k = true -> k' < nslots st -> k' <> k ->
  P (caps st k') = false.
Proof.
  intros P st k k' H Hl Hn; unfold final_by in H; rewrite forallb_forall in H.
  specialize (H k' ltac:(apply in_seq; lia)).
  apply Nat.eqb_neq in Hn; rewrite Hn in H; simpl in H.
  destruct (P (caps st k')); auto.
Qed.

Lemma forallb_false : forall (f : nat -> bool) l, forallb f l = false ->
  exists x, In x l /\ f x = false.
Proof.
  intros f; induction l as [|y l IH]; simpl; intros H; [discriminate|].
  destruct (f y) eqn:E; simpl in H.
  - destruct (IH H) as [x [Hi Hx]]; exists x; auto.
  - exists y; auto.
Qed.

Lemma not_final : forall P st k, final_by P st k = false ->
  exists k', k' <> k /\ P (caps st k') = true.
Proof.
  intros P st k H; unfold final_by in H.
  destruct (forallb_false _ _ H) as [k' [_ Hk]].
  exists k'. destruct (k' =? k) eqn:E; simpl in Hk; [discriminate|].
  apply Nat.eqb_neq in E; split; auto. destruct (P (caps st k')); auto.
Qed.

Lemma final_table : forall st c k k' m, Inv st -> final_by (names_table c) st k = true ->
  caps st k' = Some (KTable c m) -> k' = k.
Proof.
  intros st c k k' m I F H.
  destruct (Nat.eq_dec k' k) as [|Hn]; auto.
  pose proof (final_other _ _ _ _ F (proj2 (i_caps_lt _ I _ _ H)) Hn) as E.
  rewrite H in E; simpl in E; rewrite Nat.eqb_refl in E; discriminate.
Qed.

Lemma final_root : forall st r k k' a, Inv st -> final_by (names_root r) st k = true ->
  caps st k' = Some (KRoot r a) -> k' = k.
Proof.
  intros st r k k' a I F H.
  destruct (Nat.eq_dec k' k) as [|Hn]; auto.
  pose proof (final_other _ _ _ _ F (proj2 (i_caps_lt _ I _ _ H)) Hn) as E.
  rewrite H in E; simpl in E; rewrite Nat.eqb_refl in E; discriminate.
Qed.

Lemma reach_shrink : forall st st',
  sub (ents st') (ents st) -> (forall a r, roots st' a = Some r -> roots st a = Some r) ->
  forall a p t, reach st' a p t -> reach st a p t.
Proof.
  intros st st' Hs Hr a p t [r [H1 H2]]; exists r; split; auto.
  eapply walk_sub; eauto.
Qed.

Lemma place_eqb_true : forall x y, place_eqb x y = true -> x = y.
Proof.
  intros [[a p] i] [[b q] j] H; simpl in H.
  apply andb_true_iff in H; destruct H as [H H3]; apply andb_true_iff in H; destruct H as [H1 H2].
  apply Nat.eqb_eq in H1; apply Nat.eqb_eq in H3; apply path_eqb_true in H2; subst; auto.
Qed.

(** ** Preservation *)

(** The structural fields, for operations that only remove entries and
    ASIDs and keep or narrow capabilities in place. *)
Lemma shrink_fields : forall st st', Inv st ->
  next st' = next st -> nslots st' = nslots st ->
  sub (ents st') (ents st) -> (forall a r, roots st' a = Some r -> roots st a = Some r) ->
  (forall k x, caps st' k = Some x -> exists y, caps st k = Some y /\ kobj y = kobj x /\
     (forall c m, x = KTable c m -> exists m', y = KTable c m')) ->
  (forall t i, next st' <= t -> ents st' t i = Empty) /\
  (forall t i c, ents st' t i = ETable c -> c < next st') /\
  (forall a r, roots st' a = Some r -> r < next st') /\
  (forall k x, caps st' k = Some x -> kobj x < next st' /\ k < nslots st') /\
  (forall a a' r, roots st' a = Some r -> roots st' a' = Some r -> a = a') /\
  (forall k c m a, caps st' k = Some (KTable c m) -> roots st' a <> Some c).
Proof.
  intros st st' I Hn Hs Hsub Hr Hc; rewrite Hn, Hs.
  split; [|split; [|split; [|split; [|split]]]].
  - intros t i Ht; destruct (Hsub t i) as [H|H]; rewrite H; auto. apply (i_fresh _ I); auto.
  - intros t i c H; eapply (i_ents_lt _ I); eapply sub_entry; eauto; discriminate.
  - intros a r H; eapply (i_roots_lt _ I); eauto.
  - intros k x H; destruct (Hc _ _ H) as [y [Hy [Ho _]]]; rewrite <- Ho; apply (i_caps_lt _ I _ _ Hy).
  - intros a a' r H1 H2; eapply (i_roots_inj _ I); eauto.
  - intros k c m a H Hra; destruct (Hc _ _ H) as [y [Hy [_ Ht]]]; destruct (Ht c m eq_refl) as [m' ->].
    eapply (i_table_not_root _ I); eauto.
Qed.

Lemma reach_walk : forall st a p t r, reach st a p t -> roots st a = Some r -> walk (ents st) r p = Some t.
Proof. intros st a p t r [r' [H1 H2]] H; congruence. Qed.

Lemma inv_delete : forall st k x, Inv st -> caps st k = Some x ->
  Inv (mkM (fin_ents st k) (fin_roots st k) (upd_c (caps st) k None) (nslots st) (next st)).
Proof.
  intros st k x I Hx.
  set (st' := mkM (fin_ents st k) (fin_roots st k) (upd_c (caps st) k None) (nslots st) (next st)).
  assert (Hsub : sub (ents st') (ents st)).
  { simpl; unfold fin_ents; rewrite Hx; destruct x as [f w m|c m|r a].
    - apply unlink_sub.
    - destruct (final_by (names_table c) st k); [|apply sub_refl].
      eapply sub_trans; [apply clear_sub|apply unlink_sub].
    - apply sub_refl. }
  assert (Hroots : forall a r, roots st' a = Some r -> roots st a = Some r).
  { simpl; unfold fin_roots; rewrite Hx; destruct x as [f w m|c m|r0 a0]; auto.
    destruct (final_by (names_root r0) st k); auto.
    intros a r H; apply upd_r_case in H; destruct H as [[_ H]|[_ H]]; [discriminate|auto]. }
  assert (Hcaps : forall k' y, caps st' k' = Some y -> k' <> k /\ caps st k' = Some y).
  { intros k' y H; apply upd_c_case in H; destruct H as [[_ H]|H]; [discriminate|auto]. }
  destruct (shrink_fields st st' I eq_refl eq_refl Hsub Hroots) as (F1 & F2 & F3 & F4 & F5 & F6).
  { intros k' y H; exists y; destruct (Hcaps _ _ H); split; [|split]; eauto. }
  constructor; auto.
  - (* root capabilities *)
    intros k' r a H; destruct (Hcaps _ _ H) as [Hn H0].
    pose proof (i_root_cap _ I _ _ _ H0) as Hr.
    simpl; unfold fin_roots; rewrite Hx; destruct x as [f w m|c m|r0 a0]; auto.
    destruct (final_by (names_root r0) st k) eqn:F; auto.
    unfold upd_r; destruct (a =? a0) eqn:Ea; auto.
    apply Nat.eqb_eq in Ea; subst a0.
    pose proof (i_root_cap _ I _ _ _ Hx) as Hr0; rewrite Hr in Hr0; inversion Hr0; subst r0.
    exfalso; apply Hn; eapply final_root; eauto.
  - (* frames *)
    intros a p t i f Hr He.
    pose proof (reach_shrink _ _ Hsub Hroots _ _ _ Hr) as Hr0.
    pose proof (sub_entry _ _ _ _ _ Hsub He ltac:(discriminate)) as He0.
    destruct (i_frames _ I _ _ _ _ _ Hr0 He0) as [k0 [w0 H0]].
    destruct (Nat.eq_dec k0 k) as [->|Hn].
    + exfalso. rewrite Hx in H0; inversion H0; subst x.
      destruct Hr0 as [r [Hra Hw]].
      assert (Hrm : fin_ents st k t i = Empty).
      { unfold fin_ents; rewrite Hx. eapply unlink_removes; eauto. }
      simpl in He; congruence.
    + exists k0, w0; simpl; rewrite upd_c_other; auto.
  - (* structures *)
    intros a p t i c Hr He.
    pose proof (reach_shrink _ _ Hsub Hroots _ _ _ Hr) as Hr0.
    pose proof (sub_entry _ _ _ _ _ Hsub He ltac:(discriminate)) as He0.
    destruct (i_tables _ I _ _ _ _ _ Hr0 He0) as [[k0 [m0 H0]] A].
    split.
    + destruct (Nat.eq_dec k0 k) as [->|Hn].
      * rewrite Hx in H0; inversion H0; subst x.
        destruct (final_by (names_table c) st k) eqn:F.
        -- exfalso. pose proof (A _ _ Hx) as Hm; subst m0.
           destruct Hr0 as [r [Hra Hw]].
           assert (Hrm : fin_ents st k t i = Empty).
           { unfold fin_ents; rewrite Hx, F. unfold clear_t; destruct (t =? c); auto.
             eapply unlink_removes; eauto. }
           simpl in He; congruence.
        -- destruct (not_final _ _ _ F) as [k1 [Hk1 Hn1]].
           destruct (caps st k1) as [[f1 w1 m1|c1 m1|r1 a1]|] eqn:E1; simpl in Hn1; try discriminate.
           apply Nat.eqb_eq in Hn1; subst c1.
           exists k1, m1; simpl; rewrite upd_c_other; auto.
      * exists k0, m0; simpl; rewrite upd_c_other; auto.
    + intros k1 m1 H1; destruct (Hcaps _ _ H1); eauto.
  - (* unmapped structures are empty *)
    intros k' c i H; destruct (Hcaps _ _ H) as [_ H0].
    destruct (Hsub c i) as [E|E]; rewrite E; auto. eapply (i_unmapped_empty _ I); eauto.
  - intros k1 k2 c m H1 H2; destruct (Hcaps _ _ H1); destruct (Hcaps _ _ H2).
    eapply (i_unmapped_unique _ I); eauto.
Qed.

Lemma inv_unmap_frame : forall st k f w m, Inv st -> caps st k = Some (KFrame f w m) ->
  Inv (with_caps st (unlink (ents st) (roots st) m (EFrame f)) (upd_c (caps st) k (Some (KFrame f w None)))).
Proof.
  intros st k f w m I Hx.
  set (st' := with_caps st (unlink (ents st) (roots st) m (EFrame f)) (upd_c (caps st) k (Some (KFrame f w None)))).
  assert (Hsub : sub (ents st') (ents st)) by apply unlink_sub.
  assert (Hroots : forall a r, roots st' a = Some r -> roots st a = Some r) by auto.
  assert (Hcaps : forall k' y, caps st' k' = Some y ->
            (k' = k /\ y = KFrame f w None) \/ (k' <> k /\ caps st k' = Some y)).
  { intros k' y H; apply upd_c_case in H; destruct H as [[? H]|H]; [left; inversion H|]; auto. }
  destruct (shrink_fields st st' I eq_refl eq_refl Hsub Hroots) as (F1 & F2 & F3 & F4 & F5 & F6).
  { intros k' y H; destruct (Hcaps _ _ H) as [[-> ->]|[_ H0]].
    - exists (KFrame f w m); repeat split; auto. intros c m' Hc; discriminate.
    - exists y; repeat split; eauto. }
  constructor; auto.
  - intros k' r a H; destruct (Hcaps _ _ H) as [[_ H0]|[_ H0]]; [discriminate|].
    eapply (i_root_cap _ I); eauto.
  - intros a p t i f' Hr He.
    pose proof (reach_shrink _ _ Hsub Hroots _ _ _ Hr) as Hr0.
    pose proof (sub_entry _ _ _ _ _ Hsub He ltac:(discriminate)) as He0.
    destruct (i_frames _ I _ _ _ _ _ Hr0 He0) as [k0 [w0 H0]].
    destruct (Nat.eq_dec k0 k) as [->|Hn].
    + exfalso. rewrite Hx in H0; inversion H0; subst.
      destruct Hr0 as [r [Hra Hw]].
      assert (Hrm : unlink (ents st) (roots st) (Some (a, p, i)) (EFrame f') t i = Empty)
        by (eapply unlink_removes; eauto).
      unfold st', with_caps in He; cbn [ents] in He; congruence.
    + exists k0, w0; simpl; rewrite upd_c_other; auto.
  - intros a p t i c Hr He.
    pose proof (reach_shrink _ _ Hsub Hroots _ _ _ Hr) as Hr0.
    pose proof (sub_entry _ _ _ _ _ Hsub He ltac:(discriminate)) as He0.
    destruct (i_tables _ I _ _ _ _ _ Hr0 He0) as [[k0 [m0 H0]] A].
    split.
    + assert (k0 <> k) by (intros ->; congruence).
      exists k0, m0; simpl; rewrite upd_c_other; auto.
    + intros k1 m1 H1; destruct (Hcaps _ _ H1) as [[_ H2]|[_ H2]]; [discriminate|eauto].
  - intros k' c i H; destruct (Hcaps _ _ H) as [[_ H0]|[_ H0]]; [discriminate|].
    destruct (Hsub c i) as [E|E]; rewrite E; auto. eapply (i_unmapped_empty _ I); eauto.
  - intros k1 k2 c m' H1 H2.
    destruct (Hcaps _ _ H1) as [[_ E1]|[_ E1]]; [discriminate|].
    destruct (Hcaps _ _ H2) as [[_ E2]|[_ E2]]; [discriminate|].
    eapply (i_unmapped_unique _ I); eauto.
Qed.

Lemma inv_unmap_table : forall st k c m, Inv st -> caps st k = Some (KTable c (Some m)) ->
  final_by (names_table c) st k = true ->
  Inv (with_caps st (clear_t (unlink (ents st) (roots st) (Some m) (ETable c)) c)
         (upd_c (caps st) k (Some (KTable c None)))).
Proof.
  intros st k c m I Hx F.
  set (st' := with_caps st (clear_t (unlink (ents st) (roots st) (Some m) (ETable c)) c)
                (upd_c (caps st) k (Some (KTable c None)))).
  assert (Hsub : sub (ents st') (ents st)) by (eapply sub_trans; [apply clear_sub|apply unlink_sub]).
  assert (Hroots : forall a r, roots st' a = Some r -> roots st a = Some r) by auto.
  assert (Hcaps : forall k' y, caps st' k' = Some y ->
            (k' = k /\ y = KTable c None) \/ (k' <> k /\ caps st k' = Some y)).
  { intros k' y H; apply upd_c_case in H; destruct H as [[? H]|H]; [left; inversion H|]; auto. }
  destruct (shrink_fields st st' I eq_refl eq_refl Hsub Hroots) as (F1 & F2 & F3 & F4 & F5 & F6).
  { intros k' y H; destruct (Hcaps _ _ H) as [[-> ->]|[_ H0]].
    - exists (KTable c (Some m)); repeat split; auto. intros c' m' Hc; inversion Hc; eauto.
    - exists y; repeat split; eauto. }
  constructor; auto.
  - intros k' r a H; destruct (Hcaps _ _ H) as [[_ H0]|[_ H0]]; [discriminate|].
    eapply (i_root_cap _ I); eauto.
  - intros a p t i f Hr He.
    pose proof (reach_shrink _ _ Hsub Hroots _ _ _ Hr) as Hr0.
    pose proof (sub_entry _ _ _ _ _ Hsub He ltac:(discriminate)) as He0.
    destruct (i_frames _ I _ _ _ _ _ Hr0 He0) as [k0 [w0 H0]].
    assert (k0 <> k) by (intros ->; congruence).
    exists k0, w0; simpl; rewrite upd_c_other; auto.
  - intros a p t i c' Hr He.
    pose proof (reach_shrink _ _ Hsub Hroots _ _ _ Hr) as Hr0.
    pose proof (sub_entry _ _ _ _ _ Hsub He ltac:(discriminate)) as He0.
    destruct (i_tables _ I _ _ _ _ _ Hr0 He0) as [[k0 [m0 H0]] A].
    destruct (Nat.eq_dec c' c) as [->|Hc].
    + exfalso. pose proof (A _ _ Hx) as Hm; inversion Hm; subst m.
      destruct Hr0 as [r [Hra Hw]].
      assert (Hrm : clear_t (unlink (ents st) (roots st) (Some (a, p, i)) (ETable c)) c t i = Empty).
      { unfold clear_t; destruct (t =? c); auto. eapply unlink_removes; eauto. }
      unfold st', with_caps in He; cbn [ents] in He; congruence.
    + split.
      * assert (k0 <> k) by (intros ->; rewrite Hx in H0; inversion H0; auto).
        exists k0, m0; simpl; rewrite upd_c_other; auto.
      * intros k1 m1 H1; destruct (Hcaps _ _ H1) as [[_ H2]|[_ H2]]; [inversion H2; congruence|eauto].
  - intros k' c' i H; destruct (Hcaps _ _ H) as [[-> H0]|[_ H0]].
    + inversion H0; subst c'. simpl. apply clear_here.
    + destruct (Hsub c' i) as [E|E]; rewrite E; auto. eapply (i_unmapped_empty _ I); eauto.
  - intros k1 k2 c' m' H1 H2.
    destruct (Hcaps _ _ H1) as [[-> E1]|[N1 E1]]; destruct (Hcaps _ _ H2) as [[-> E2]|[N2 E2]]; auto.
    + inversion E1; subst. symmetry; eapply final_table; eauto.
    + inversion E2; subst. eapply (i_unmapped_unique _ I _ _ _ _ E1); eauto.
    + eapply (i_unmapped_unique _ I); eauto.
Qed.

Lemma inv_map_table : forall st k s c r a p t i, Inv st ->
  caps st k = Some (KTable c None) -> caps st s = Some (KRoot r a) ->
  walk (ents st) r p = Some t -> ents st t i = Empty ->
  Inv (with_caps st (upd_e (ents st) t i (ETable c)) (upd_c (caps st) k (Some (KTable c (Some (a, p, i)))))).
Proof.
  intros st k s c r a p t i I Hk Hs Hw Hti.
  set (st' := with_caps st (upd_e (ents st) t i (ETable c)) (upd_c (caps st) k (Some (KTable c (Some (a, p, i)))))).
  assert (Hra : roots st a = Some r) by (eapply (i_root_cap _ I); eauto).
  assert (Hreach : reach st a p t) by (exists r; auto).
  assert (Hcu : forall a' p', ~ reach st a' p' c) by (intros; eapply unmapped_unreached; eauto).
  assert (Hct : c <> t) by (intros ->; eapply Hcu; eauto).
  assert (Hce : forall j, ents st c j = Empty) by (intros; eapply (i_unmapped_empty _ I); eauto).
  assert (Hclt : c < next st) by (apply (i_caps_lt _ I _ _ Hk)).
  assert (Htlt : t < next st) by (eapply reach_lt; eauto).
  assert (Hnew : forall a' q y, reach st' a' q y ->
            reach st a' q y \/ (exists q1, q = q1 ++ [i] /\ reach st a' q1 t /\ y = c)).
  { intros a' q y [r' [Hr' Hw']].
    destruct (walk_map _ _ _ _ Hce Hct _ _ _ Hw') as [H|[q1 [Hq [H1 Hy]]]].
    - left; exists r'; auto.
    - right; exists q1; repeat split; auto. exists r'; auto. }
  assert (Hcaps : forall k' y, caps st' k' = Some y ->
            (k' = k /\ y = KTable c (Some (a, p, i))) \/ (k' <> k /\ caps st k' = Some y)).
  { intros k' y H; apply upd_c_case in H; destruct H as [[? H]|H]; [left; inversion H|]; auto. }
  constructor.
  - intros t' i' Ht'; simpl in Ht'; simpl.
    destruct (upd_e_case (ents st) t i (ETable c) t' i') as [[-> [-> _]]|[_ ->]]; [lia|].
    apply (i_fresh _ I); auto.
  - intros t' i' c' H; simpl in *.
    destruct (upd_e_case (ents st) t i (ETable c) t' i') as [[-> [-> E]]|[_ E]]; rewrite E in H.
    + inversion H; subst; auto.
    + eapply (i_ents_lt _ I); eauto.
  - intros a' r' H; eapply (i_roots_lt _ I); eauto.
  - intros k' y H; destruct (Hcaps _ _ H) as [[-> ->]|[_ H0]]; simpl.
    + split; auto. apply (i_caps_lt _ I _ _ Hk).
    + apply (i_caps_lt _ I _ _ H0).
  - intros k' r' a' H; destruct (Hcaps _ _ H) as [[_ H0]|[_ H0]]; [discriminate|].
    eapply (i_root_cap _ I); eauto.
  - intros a1 a2 r' H1 H2; eapply (i_roots_inj _ I); eauto.
  - intros k' c' m a' H; destruct (Hcaps _ _ H) as [[_ H0]|[_ H0]].
    + inversion H0; subst. eapply (i_table_not_root _ I); eauto.
    + eapply (i_table_not_root _ I); eauto.
  - intros a' q y j f Hr He.
    simpl in He. destruct (upd_e_case (ents st) t i (ETable c) y j) as [[-> [-> E]]|[Hn E]];
      rewrite E in He; [discriminate|].
    destruct (Hnew _ _ _ Hr) as [Hr0|[q1 [_ [_ ->]]]]; [|rewrite Hce in He; discriminate].
    destruct (i_frames _ I _ _ _ _ _ Hr0 He) as [k0 [w0 H0]].
    assert (k0 <> k) by (intros ->; congruence).
    exists k0, w0; simpl; rewrite upd_c_other; auto.
  - intros a' q y j c' Hr He.
    simpl in He. destruct (upd_e_case (ents st) t i (ETable c) y j) as [[-> [-> E]]|[Hn E]];
      rewrite E in He.
    + inversion He; subst c'.
      destruct (Hnew _ _ _ Hr) as [Hr0|[q1 [_ [_ Hy]]]]; [|congruence].
      destruct (reach_unique _ I _ _ _ _ _ Hreach Hr0) as [Ha Hq]; subst a' q.
      split.
      * exists k, (Some (a, p, i)); simpl; apply upd_c_same.
      * intros k1 m1 H1; destruct (Hcaps _ _ H1) as [[_ H2]|[Hn1 H2]].
        -- inversion H2; auto.
        -- exfalso; apply Hn1; eapply (i_unmapped_unique _ I _ _ _ _ Hk) in H2; auto.
    + destruct (Hnew _ _ _ Hr) as [Hr0|[q1 [_ [_ ->]]]]; [|rewrite Hce in He; discriminate].
      destruct (i_tables _ I _ _ _ _ _ Hr0 He) as [[k0 [m0 H0]] A].
      assert (Hc : c' <> c) by (intros ->; specialize (A _ _ Hk); discriminate).
      split.
      * assert (k0 <> k) by (intros ->; rewrite Hk in H0; inversion H0; auto).
        exists k0, m0; simpl; rewrite upd_c_other; auto.
      * intros k1 m1 H1; destruct (Hcaps _ _ H1) as [[_ H2]|[_ H2]]; [inversion H2; congruence|eauto].
  - intros k' c' j H; destruct (Hcaps _ _ H) as [[_ H0]|[_ H0]]; [discriminate|].
    simpl. destruct (upd_e_case (ents st) t i (ETable c) c' j) as [[-> [-> _]]|[_ ->]].
    + exfalso; eapply unmapped_unreached; eauto.
    + eapply (i_unmapped_empty _ I); eauto.
  - intros k1 k2 c' m H1 H2.
    destruct (Hcaps _ _ H1) as [[_ E1]|[N1 E1]]; [discriminate|].
    destruct (Hcaps _ _ H2) as [[-> E2]|[N2 E2]].
    + inversion E2; subst. exfalso; apply N1; eapply (i_unmapped_unique _ I); eauto.
    + eapply (i_unmapped_unique _ I); eauto.
Qed.

Lemma frame_ok_place : forall m' e f pl, frame_ok (Some m') e f pl = true -> m' = pl.
Proof.
  intros m' e f pl H; destruct e; simpl in H; try discriminate.
  - apply place_eqb_true; auto.
  - apply andb_true_iff in H; destruct H; apply place_eqb_true; auto.
Qed.

Lemma frame_ok_entry : forall m e f pl c, frame_ok m e f pl = true -> e <> ETable c.
Proof. intros m e f pl c H ->; destruct m; simpl in H; discriminate. Qed.

Lemma inv_map_frame : forall st k s f w m r a p t i, Inv st ->
  caps st k = Some (KFrame f w m) -> caps st s = Some (KRoot r a) ->
  walk (ents st) r p = Some t -> frame_ok m (ents st t i) f (a, p, i) = true ->
  Inv (with_caps st (upd_e (ents st) t i (EFrame f)) (upd_c (caps st) k (Some (KFrame f w (Some (a, p, i)))))).
Proof.
  intros st k s f w m r a p t i I Hk Hs Hw Hok.
  set (st' := with_caps st (upd_e (ents st) t i (EFrame f)) (upd_c (caps st) k (Some (KFrame f w (Some (a, p, i)))))).
  assert (Hra : roots st a = Some r) by (eapply (i_root_cap _ I); eauto).
  assert (Hreach : reach st a p t) by (exists r; auto).
  assert (Htlt : t < next st) by (eapply reach_lt; eauto).
  assert (Hsame : forall t' i' c, ents st' t' i' = ETable c <-> ents st t' i' = ETable c).
  { intros t' i' c; simpl.
    destruct (upd_e_case (ents st) t i (EFrame f) t' i') as [[-> [-> ->]]|[_ ->]]; [|tauto].
    split; intros H; [discriminate|]. exfalso; eapply frame_ok_entry; eauto. }
  assert (Hr' : forall a' q y, reach st' a' q y -> reach st a' q y).
  { intros a' q y [r' [H1 H2]]; exists r'; split; auto.
    rewrite <- (walk_same _ _ Hsame); auto. }
  assert (Hcaps : forall k' y, caps st' k' = Some y ->
            (k' = k /\ y = KFrame f w (Some (a, p, i))) \/ (k' <> k /\ caps st k' = Some y)).
  { intros k' y H; apply upd_c_case in H; destruct H as [[? H]|H]; [left; inversion H|]; auto. }
  constructor.
  - intros t' i' Ht'; simpl in Ht'; simpl.
    destruct (upd_e_case (ents st) t i (EFrame f) t' i') as [[-> [-> _]]|[_ ->]]; [lia|].
    apply (i_fresh _ I); auto.
  - intros t' i' c H; apply Hsame in H; eapply (i_ents_lt _ I); eauto.
  - intros a' r' H; eapply (i_roots_lt _ I); eauto.
  - intros k' y H; destruct (Hcaps _ _ H) as [[-> ->]|[_ H0]]; simpl.
    + apply (i_caps_lt _ I _ _ Hk).
    + apply (i_caps_lt _ I _ _ H0).
  - intros k' r' a' H; destruct (Hcaps _ _ H) as [[_ H0]|[_ H0]]; [discriminate|].
    eapply (i_root_cap _ I); eauto.
  - intros a1 a2 r' H1 H2; eapply (i_roots_inj _ I); eauto.
  - intros k' c m' a' H; destruct (Hcaps _ _ H) as [[_ H0]|[_ H0]]; [discriminate|].
    eapply (i_table_not_root _ I); eauto.
  - intros a' q y j f' Hr He. pose proof (Hr' _ _ _ Hr) as Hr0.
    simpl in He. destruct (upd_e_case (ents st) t i (EFrame f) y j) as [[-> [-> E]]|[Hn E]];
      rewrite E in He.
    + inversion He; subst f'.
      destruct (reach_unique _ I _ _ _ _ _ Hreach Hr0) as [Ha Hq]; subst a' q.
      exists k, w; simpl; apply upd_c_same.
    + destruct (i_frames _ I _ _ _ _ _ Hr0 He) as [k0 [w0 H0]].
      destruct (Nat.eq_dec k0 k) as [->|Hk0].
      * exfalso. rewrite Hk in H0; inversion H0; subst.
        apply frame_ok_place in Hok; inversion Hok; subst.
        pose proof (reach_walk _ _ _ _ _ Hr0 Hra) as Hy; rewrite Hw in Hy; inversion Hy; subst.
        destruct Hn; auto.
      * exists k0, w0; simpl; rewrite upd_c_other; auto.
  - intros a' q y j c Hr He. pose proof (Hr' _ _ _ Hr) as Hr0.
    apply Hsame in He.
    destruct (i_tables _ I _ _ _ _ _ Hr0 He) as [[k0 [m0 H0]] A].
    split.
    + assert (k0 <> k) by (intros ->; congruence).
      exists k0, m0; simpl; rewrite upd_c_other; auto.
    + intros k1 m1 H1; destruct (Hcaps _ _ H1) as [[_ H2]|[_ H2]]; [discriminate|eauto].
  - intros k' c j H; destruct (Hcaps _ _ H) as [[_ H0]|[_ H0]]; [discriminate|].
    simpl. destruct (upd_e_case (ents st) t i (EFrame f) c j) as [[-> [-> _]]|[_ ->]].
    + exfalso; eapply unmapped_unreached; eauto.
    + eapply (i_unmapped_empty _ I); eauto.
  - intros k1 k2 c m' H1 H2.
    destruct (Hcaps _ _ H1) as [[_ E1]|[N1 E1]]; [discriminate|].
    destruct (Hcaps _ _ H2) as [[_ E2]|[N2 E2]]; [discriminate|].
    eapply (i_unmapped_unique _ I); eauto.
Qed.

Lemma derive_cases : forall x y, derive x = Some y ->
  (exists f w m, x = KFrame f w m /\ y = KFrame f w None) \/
  (exists c pl, x = KTable c (Some pl) /\ y = x) \/
  (exists r a, x = KRoot r a /\ y = x).
Proof.
  intros [f w m|c [pl|]|r a] y H; simpl in H; inversion H; subst; eauto 8.
Qed.

Lemma inv_copy : forall st k k' x y, Inv st -> caps st k = Some x -> caps st k' = None ->
  derive x = Some y -> k' < nslots st ->
  Inv (with_caps st (ents st) (upd_c (caps st) k' (Some y))).
Proof.
  intros st k k' x y I Hx Hk' Hd Hl.
  set (st' := with_caps st (ents st) (upd_c (caps st) k' (Some y))).
  assert (Hcaps : forall k1 z, caps st' k1 = Some z -> (k1 = k' /\ z = y) \/ (k1 <> k' /\ caps st k1 = Some z)).
  { intros k1 z H; apply upd_c_case in H; destruct H as [[? H]|H]; [left; inversion H|]; auto. }
  assert (Hr : forall a p t, reach st' a p t -> reach st a p t) by auto.
  destruct (derive_cases _ _ Hd) as [[f [w [m [-> ->]]]]|[[c [pl [-> ->]]]|[r [a [-> ->]]]]];
  (constructor;
   [ intros; apply (i_fresh _ I); auto
   | intros; eapply (i_ents_lt _ I); eauto
   | intros; eapply (i_roots_lt _ I); eauto
   | intros k1 z H; destruct (Hcaps _ _ H) as [[-> ->]|[_ H0]];
       [split; auto; apply (i_caps_lt _ I _ _ Hx) | apply (i_caps_lt _ I _ _ H0)]
   | intros k1 r1 a1 H; destruct (Hcaps _ _ H) as [[-> E]|[_ H0]];
       [inversion E; subst; eapply (i_root_cap _ I); eauto | eapply (i_root_cap _ I); eauto]
   | intros; eapply (i_roots_inj _ I); eauto
   | intros k1 c1 m1 a1 H; destruct (Hcaps _ _ H) as [[-> E]|[_ H0]];
       [inversion E; subst; eapply (i_table_not_root _ I); eauto | eapply (i_table_not_root _ I); eauto]
   | intros a1 p t i f1 Hr1 He; destruct (i_frames _ I _ _ _ _ _ (Hr _ _ _ Hr1) He) as [k0 [w0 H0]];
       exists k0, w0; simpl; rewrite upd_c_other; [auto|intros ->; congruence]
   | intros a1 p t i c1 Hr1 He; destruct (i_tables _ I _ _ _ _ _ (Hr _ _ _ Hr1) He) as [[k0 [m0 H0]] A];
       split;
       [ exists k0, m0; simpl; rewrite upd_c_other; [auto|intros ->; congruence]
       | intros k1 m1 H1; destruct (Hcaps _ _ H1) as [[-> E]|[_ H2]];
           [inversion E; subst; eauto | eauto]]
   | intros k1 c1 j H; destruct (Hcaps _ _ H) as [[-> E]|[_ H0]];
       [inversion E | eapply (i_unmapped_empty _ I); eauto]
   | intros k1 k2 c1 m1 H1 H2; destruct (Hcaps _ _ H1) as [[-> E1]|[N1 E1]]; [inversion E1|];
       destruct (Hcaps _ _ H2) as [[-> E2]|[N2 E2]];
       [inversion E2; subst; exfalso; pose proof (i_unmapped_unique _ I _ _ _ _ E1 Hx); subst;
          rewrite Hx in E1; discriminate
       | eapply (i_unmapped_unique _ I); eauto]]).
Qed.

Lemma inv_retype_obj : forall st k z, Inv st -> caps st k = None -> k < nslots st ->
  (exists w, z = KFrame (next st) w None) \/ z = KTable (next st) None ->
  Inv (mkM (ents st) (roots st) (upd_c (caps st) k (Some z)) (nslots st) (S (next st))).
Proof.
  intros st k z I Hk Hl Hz.
  set (st' := mkM (ents st) (roots st) (upd_c (caps st) k (Some z)) (nslots st) (S (next st))).
  assert (Hcaps : forall k1 y, caps st' k1 = Some y -> (k1 = k /\ y = z) \/ (k1 <> k /\ caps st k1 = Some y)).
  { intros k1 y H; apply upd_c_case in H; destruct H as [[? H]|H]; [left; inversion H|]; auto. }
  assert (Hr : forall a p t, reach st' a p t -> reach st a p t) by auto.
  assert (Hzo : kobj z = next st) by (destruct Hz as [[w ->]| ->]; auto).
  assert (Hzt : forall c m, z = KTable c m -> c = next st /\ m = None)
    by (intros c m ->; destruct Hz as [[w E]|E]; inversion E; auto).
  constructor.
  - intros t i Ht; apply (i_fresh _ I); simpl in Ht; lia.
  - intros t i c H; simpl; pose proof (i_ents_lt _ I _ _ _ H); lia.
  - intros a r H; simpl; pose proof (i_roots_lt _ I _ _ H); lia.
  - intros k1 y H; simpl; destruct (Hcaps _ _ H) as [[-> ->]|[_ H0]].
    + rewrite Hzo; split; lia.
    + pose proof (i_caps_lt _ I _ _ H0); lia.
  - intros k1 r a H; destruct (Hcaps _ _ H) as [[-> E]|[_ H0]].
    + destruct Hz as [[w Ez]|Ez]; rewrite Ez in E; discriminate.
    + eapply (i_root_cap _ I); eauto.
  - intros; eapply (i_roots_inj _ I); eauto.
  - intros k1 c m a H; destruct (Hcaps _ _ H) as [[-> E]|[_ H0]].
    + destruct (Hzt _ _ (eq_sym E)) as [-> _]. intros Hra; pose proof (i_roots_lt _ I _ _ Hra); lia.
    + eapply (i_table_not_root _ I); eauto.
  - intros a p t i f Hr1 He; destruct (i_frames _ I _ _ _ _ _ (Hr _ _ _ Hr1) He) as [k0 [w0 H0]].
    exists k0, w0; simpl; rewrite upd_c_other; [auto|intros ->; congruence].
  - intros a p t i c Hr1 He; destruct (i_tables _ I _ _ _ _ _ (Hr _ _ _ Hr1) He) as [[k0 [m0 H0]] A].
    split.
    + exists k0, m0; simpl; rewrite upd_c_other; [auto|intros ->; congruence].
    + intros k1 m1 H1; destruct (Hcaps _ _ H1) as [[-> E]|[_ H2]]; eauto.
      destruct (Hzt _ _ (eq_sym E)) as [-> _]. pose proof (i_ents_lt _ I _ _ _ He); lia.
  - intros k1 c j H; destruct (Hcaps _ _ H) as [[-> E]|[_ H0]].
    + destruct (Hzt _ _ (eq_sym E)) as [-> _]. apply (i_fresh _ I); auto.
    + eapply (i_unmapped_empty _ I); eauto.
  - intros k1 k2 c m H1 H2.
    destruct (Hcaps _ _ H1) as [[-> E1]|[N1 E1]]; destruct (Hcaps _ _ H2) as [[-> E2]|[N2 E2]]; auto.
    + destruct (Hzt _ _ (eq_sym E1)) as [-> _]. pose proof (proj1 (i_caps_lt _ I _ _ E2)); simpl in *; lia.
    + destruct (Hzt _ _ (eq_sym E2)) as [-> _]. pose proof (proj1 (i_caps_lt _ I _ _ E1)); simpl in *; lia.
    + eapply (i_unmapped_unique _ I); eauto.
Qed.

Lemma inv_retype_root : forall st k a, Inv st -> caps st k = None -> roots st a = None -> k < nslots st ->
  Inv (mkM (ents st) (upd_r (roots st) a (Some (next st))) (upd_c (caps st) k (Some (KRoot (next st) a)))
         (nslots st) (S (next st))).
Proof.
  intros st k a I Hk Ha Hl.
  set (n := next st).
  set (st' := mkM (ents st) (upd_r (roots st) a (Some n)) (upd_c (caps st) k (Some (KRoot n a))) (nslots st) (S n)).
  assert (Hcaps : forall k1 y, caps st' k1 = Some y ->
            (k1 = k /\ y = KRoot n a) \/ (k1 <> k /\ caps st k1 = Some y)).
  { intros k1 y H; apply upd_c_case in H; destruct H as [[? H]|H]; [left; inversion H|]; auto. }
  assert (Hroots : forall a1 r, roots st' a1 = Some r -> (a1 = a /\ r = n) \/ (a1 <> a /\ roots st a1 = Some r)).
  { intros a1 r H; apply upd_r_case in H; destruct H as [[? H]|H]; [left; inversion H|]; auto. }
  assert (Hr : forall a1 p t, reach st' a1 p t -> (a1 = a /\ t = n /\ p = []) \/ reach st a1 p t).
  { intros a1 p t [r [H1 H2]]. destruct (Hroots _ _ H1) as [[-> ->]|[_ H0]].
    - left. destruct (walk_fresh (ents st) n (fun i => i_fresh _ I n i (le_n _)) p t H2); auto.
    - right; exists r; auto. }
  constructor.
  - intros t i Ht; apply (i_fresh _ I); simpl in Ht; lia.
  - intros t i c H; simpl; pose proof (i_ents_lt _ I _ _ _ H); lia.
  - intros a1 r H; simpl; destruct (Hroots _ _ H) as [[_ ->]|[_ H0]]; [lia|].
    pose proof (i_roots_lt _ I _ _ H0); lia.
  - intros k1 y H; simpl; destruct (Hcaps _ _ H) as [[-> ->]|[_ H0]].
    + simpl; split; lia.
    + pose proof (i_caps_lt _ I _ _ H0); lia.
  - intros k1 r a1 H; destruct (Hcaps _ _ H) as [[-> E]|[_ H0]].
    + inversion E; subst; simpl; unfold upd_r; rewrite Nat.eqb_refl; auto.
    + pose proof (i_root_cap _ I _ _ _ H0) as E. simpl; unfold upd_r.
      destruct (a1 =? a) eqn:Ea; auto. apply Nat.eqb_eq in Ea; subst; congruence.
  - intros a1 a2 r H1 H2.
    destruct (Hroots _ _ H1) as [[-> ->]|[N1 E1]]; destruct (Hroots _ _ H2) as [[-> E2]|[N2 E2]]; auto.
    + pose proof (i_roots_lt _ I _ _ E2); lia.
    + subst r; pose proof (i_roots_lt _ I _ _ E1); lia.
    + eapply (i_roots_inj _ I); eauto.
  - intros k1 c m a1 H; destruct (Hcaps _ _ H) as [[_ E]|[_ H0]]; [discriminate|].
    intros Hra; destruct (Hroots _ _ Hra) as [[_ E]|[_ E]].
    + subst c; pose proof (proj1 (i_caps_lt _ I _ _ H0)); simpl in *; lia.
    + eapply (i_table_not_root _ I); eauto.
  - intros a1 p t i f Hr1 He; destruct (Hr _ _ _ Hr1) as [[_ [-> _]]|Hr0].
    + simpl in He; rewrite (i_fresh _ I) in He; [discriminate|auto].
    + destruct (i_frames _ I _ _ _ _ _ Hr0 He) as [k0 [w0 H0]].
      exists k0, w0; simpl; rewrite upd_c_other; [auto|intros ->; congruence].
  - intros a1 p t i c Hr1 He; destruct (Hr _ _ _ Hr1) as [[_ [-> _]]|Hr0].
    + simpl in He; rewrite (i_fresh _ I) in He; [discriminate|auto].
    + destruct (i_tables _ I _ _ _ _ _ Hr0 He) as [[k0 [m0 H0]] A]; split.
      * exists k0, m0; simpl; rewrite upd_c_other; [auto|intros ->; congruence].
      * intros k1 m1 H1; destruct (Hcaps _ _ H1) as [[_ E]|[_ H2]]; [discriminate|eauto].
  - intros k1 c j H; destruct (Hcaps _ _ H) as [[_ E]|[_ H0]]; [discriminate|].
    eapply (i_unmapped_empty _ I); eauto.
  - intros k1 k2 c m H1 H2.
    destruct (Hcaps _ _ H1) as [[_ E1]|[_ E1]]; [discriminate|].
    destruct (Hcaps _ _ H2) as [[_ E2]|[_ E2]]; [discriminate|].
    eapply (i_unmapped_unique _ I); eauto.
Qed.

(** ** The invariant holds initially and is preserved by every operation *)

Theorem minit_inv : forall n, Inv (minit n).
Proof.
  intros n; constructor; simpl; intros; try discriminate; try lia; auto.
Qed.

Theorem minv_step : forall st o st', Inv st -> mstep st o = Some st' -> Inv st'.
Proof.
  intros st o st' I H; destruct o as [k s p i|k|k s p i|k|k|k k'|k w|k|k a]; simpl in H.
  - destruct (caps st k) as [[f w m|c [m|]|r a]|] eqn:Hk; try discriminate.
    destruct (caps st s) as [[f w m|c' m|r a]|] eqn:Hs; try discriminate.
    destruct (walk (ents st) r p) as [t|] eqn:Hw; try discriminate.
    destruct (ents st t i) eqn:Hti; try discriminate.
    inversion H; subst; eapply inv_map_table; eauto.
  - destruct (caps st k) as [[f w m|c [m|]|r a]|] eqn:Hk; try discriminate.
    + destruct (final_by (names_table c) st k) eqn:F; try discriminate.
      inversion H; subst; eapply inv_unmap_table; eauto.
    + inversion H; subst; auto.
  - destruct (caps st k) as [[f w m|c m|r a]|] eqn:Hk; try discriminate.
    destruct (caps st s) as [[f' w' m'|c' m'|r a]|] eqn:Hs; try discriminate.
    destruct (walk (ents st) r p) as [t|] eqn:Hw; try discriminate.
    destruct (frame_ok m (ents st t i) f (a, p, i)) eqn:Hok; try discriminate.
    inversion H; subst; eapply inv_map_frame; eauto.
  - destruct (caps st k) as [[f w m|c m|r a]|] eqn:Hk; try discriminate.
    inversion H; subst; eapply inv_unmap_frame; eauto.
  - destruct (caps st k) as [x|] eqn:Hk; try discriminate.
    inversion H; subst; eapply inv_delete; eauto.
  - destruct (caps st k) as [x|] eqn:Hk; try discriminate.
    destruct (caps st k') as [x'|] eqn:Hk'; try discriminate.
    destruct (derive x) as [y|] eqn:Hd; try discriminate.
    destruct (k' <? nslots st) eqn:Hl; try discriminate.
    apply Nat.ltb_lt in Hl. inversion H; subst; eapply inv_copy; eauto.
  - destruct (caps st k) eqn:Hk; try discriminate.
    destruct (k <? nslots st) eqn:Hl; try discriminate.
    apply Nat.ltb_lt in Hl. inversion H; subst; eapply inv_retype_obj; eauto.
  - destruct (caps st k) eqn:Hk; try discriminate.
    destruct (k <? nslots st) eqn:Hl; try discriminate.
    apply Nat.ltb_lt in Hl. inversion H; subst; eapply inv_retype_obj; eauto.
  - destruct (caps st k) eqn:Hk; try discriminate.
    destruct (roots st a) eqn:Ha; try discriminate.
    destruct (k <? nslots st) eqn:Hl; try discriminate.
    apply Nat.ltb_lt in Hl. inversion H; subst; eapply inv_retype_root; eauto.
Qed.

Theorem minv_run : forall ops st, Inv st -> Inv (mrun st ops).
Proof.
  induction ops as [|o ops IH]; intros st I; simpl; auto.
  apply IH; unfold mstep_or_stay.
  destruct (mstep st o) eqn:H; auto. eapply minv_step; eauto.
Qed.

(** The mapping invariant, for every state reachable from boot by any
    sequence of operations (successful or refused): every frame
    translation reachable from a live address space is backed by a frame
    capability recording that (ASID, path, index) ... *)
Theorem mapping_frames_backed : forall n ops a p t i f,
  reach (mrun (minit n) ops) a p t -> ents (mrun (minit n) ops) t i = EFrame f ->
  exists k w, caps (mrun (minit n) ops) k = Some (KFrame f w (Some (a, p, i))).
Proof. intros n ops; apply (i_frames _ (minv_run ops _ (minit_inv n))). Qed.

(** ... every reachable entry pointing to a structure is backed by a
    capability to it, and every capability to it records that place ... *)
Theorem mapping_tables_backed : forall n ops a p t i c,
  reach (mrun (minit n) ops) a p t -> ents (mrun (minit n) ops) t i = ETable c ->
  (exists k m, caps (mrun (minit n) ops) k = Some (KTable c m)) /\
  (forall k m, caps (mrun (minit n) ops) k = Some (KTable c m) -> m = Some (a, p, i)).
Proof. intros n ops; apply (i_tables _ (minv_run ops _ (minit_inv n))). Qed.

(** ... and a thread runs in a live address space (or the kernel-only
    one), all of whose frame translations are so backed. *)
Theorem thread_mappings_backed : forall n ops s a p t i f,
  runs_in (mrun (minit n) ops) s a ->
  (exists r, roots (mrun (minit n) ops) a = Some r) /\
  (reach (mrun (minit n) ops) a p t -> ents (mrun (minit n) ops) t i = EFrame f ->
   exists k w, caps (mrun (minit n) ops) k = Some (KFrame f w (Some (a, p, i)))).
Proof.
  intros n ops s a p t i f Hrun.
  pose proof (minv_run ops _ (minit_inv n)) as I.
  split; [eapply thread_space_live; eauto | apply (i_frames _ I)].
Qed.
