(** * Theorems 1, 2 and 5 on the kernel model ([Kernel.v])

    The statements of [Theorems.v] and [Badges.v], restated over
    [Kernel.v] (threads acting through their CSpace root, bounded slots,
    CNodes destroyed with their contents) for every state reached from
    [kinit] by [krun], using the invariant of [KernelInvariants.v].
    Theorem 2 does not hold on [Kernel.v] as [Model.v] states it: a revoke
    may destroy the CNode holding the revoked capability, and with it that
    capability and capabilities outside the revoked subtree
    ([revoke_destroys_own_cnode] below). What holds is proved here: no
    descendant survives ([krevoke_complete]) and the exact frame
    ([krevoke_frame]). Theorem 3 (no overlap) is in [KernelObjects.v]. *)

From Coq Require Import List Arith Bool Lia Relations.
Import ListNotations.
From Tileos Require Import Model Invariants Theorems Kernel Authority KernelInvariants.

(** [y] is a present CDT ancestor of the present capability [x] (its node
    is recorded among [x]'s ancestors). [x]'s CDT parent, its nearest
    present ancestor, is one of them. *)
Definition kanc (st : kstate) (x y : cte) : Prop :=
  In x (kctes st) /\ In y (kctes st) /\ In (e_node y) (e_anc x).

(** [x] is a (transitive) CDT descendant of [y]. *)
Definition kdesc (st : kstate) : cte -> cte -> Prop := clos_trans cte (kanc st).

(** ** Theorem 1: rights never grow along derivation *)

(** After any sequence of operations from boot, a capability's rights are
    a subset of those of each present CDT ancestor (so of its parent's). *)
Theorem krights_never_grow : forall root_lbl slots us ops x y,
  let st := krun (kinit root_lbl slots us) ops in
  kanc st x y -> rsub (c_rights (e_cap x)) (c_rights (e_cap y)).
Proof.
  intros root_lbl slots us ops x y st [Hx [Hy Hin]].
  destruct (kreachable_inv root_lbl slots us ops) as [_ [Hk _]].
  apply (Hk x y Hx Hy); right; auto.
Qed.

(** ** Theorem 5: badges are stable along derivation *)

(** After any sequence of operations from boot, a capability whose present
    CDT ancestor names the same object with a non-zero badge carries that
    badge. *)
Theorem kbadges_stable : forall root_lbl slots us ops x y,
  let st := krun (kinit root_lbl slots us) ops in
  kanc st x y -> c_obj (e_cap x) = c_obj (e_cap y) -> c_badge (e_cap y) <> 0 ->
  c_badge (e_cap x) = c_badge (e_cap y).
Proof.
  intros root_lbl slots us ops x y st [Hx [Hy Hin]].
  destruct (kreachable_inv root_lbl slots us ops) as [_ [Hk _]].
  apply (Hk x y Hx Hy); right; auto.
Qed.

(** ** Theorem 2: revoke *)

(** Under the invariant, a transitive descendant records the node of its
    ancestor. *)
Lemma kdesc_anc : forall st x y, KInv st -> kdesc st x y ->
  In x (kctes st) /\ In y (kctes st) /\ In (e_node y) (e_anc x).
Proof.
  intros st x y [_ [_ Hc]] H; induction H as [x y Hp | x z y _ IH1 _ IH2]; auto.
  destruct IH1 as [Hx [Hz H1]], IH2 as [_ [Hy H2]].
  repeat split; auto; destruct (Hc x z Hx Hz) as [_ C]; apply C; auto.
Qed.

Lemma alive_incl : forall os os' i, incl os' os -> alive os' i = true -> alive os i = true.
Proof.
  unfold alive; intros os os' i Hi H; apply existsb_exists in H.
  destruct H as [o [Ho E]]; apply existsb_exists; exists o; auto.
Qed.

Lemma collect_iter_objs : forall n st, incl (kobjs (collect_iter n st)) (kobjs st).
Proof.
  induction n as [|n IH]; simpl; intros st; [apply incl_refl|].
  intros o Ho; apply IH in Ho; unfold collect_pass in Ho; simpl in Ho.
  apply filter_In in Ho; tauto.
Qed.

(** An entry whose CNode survives the reclamation survives it. *)
Lemma collect_iter_keeps : forall n st e, In e (kctes st) ->
  alive (kobjs (collect_iter n st)) (fst (e_slot e)) = true -> In e (kctes (collect_iter n st)).
Proof.
  induction n as [|n IH]; simpl; intros st e He Ha; auto.
  apply IH; auto; unfold collect_pass; simpl; apply filter_In; split; auto.
  apply (alive_incl _ (kobjs (collect_iter n (collect_pass st)))); auto.
  apply collect_iter_objs.
Qed.

(** Every entry's CNode is live, once reclamation has run. *)
Definition cnodes_live (st : kstate) : Prop :=
  forall e, In e (kctes st) -> alive (kobjs st) (fst (e_slot e)) = true.

Lemma collect_pass_live : forall st, cnodes_live (collect_pass st).
Proof.
  intros st e He; unfold collect_pass in *; simpl in *.
  apply filter_In in He; tauto.
Qed.

Lemma collect_iter_live : forall n st, cnodes_live st -> cnodes_live (collect_iter n st).
Proof.
  induction n as [|n IH]; simpl; auto; intros st _; apply IH, collect_pass_live.
Qed.

Lemma collect_live : forall st, cnodes_live (collect st).
Proof.
  intros st; unfold collect.
  replace (2 * S (length (kobjs st))) with (S (2 * length (kobjs st) + 1)) by lia.
  simpl; apply collect_iter_live, collect_pass_live.
Qed.

Lemma collect_sub : forall st e, In e (kctes (collect st)) -> In e (kctes st).
Proof.
  intros st; unfold collect; generalize (2 * S (length (kobjs st))).
  intros n; revert st; induction n as [|n IH]; simpl; auto.
  intros st e He; apply IH in He; unfold collect_pass in He; simpl in He.
  apply filter_In in He; tauto.
Qed.

Lemma not_desc_of_iff : forall n e, not_desc_of n e = true <-> ~ In n (e_anc e).
Proof.
  intros n e; split; [apply not_desc_of_spec|].
  intros Hn; unfold not_desc_of; apply negb_true_iff.
  destruct (existsb (Nat.eqb n) (e_anc e)) eqn:Ex; auto.
  apply existsb_exists in Ex; destruct Ex as [m [Hm Hmeq]].
  apply Nat.eqb_eq in Hmeq; subst m; contradiction.
Qed.

(** The frame condition of revoke, for every state: a successful
    [KRevoke t s] of the capability [x] keeps exactly the capabilities
    that do not record [x]'s node among their ancestors and whose CNode
    survives the reclamation that follows; nothing is added or changed.
    The last clause is needed ([revoke_destroys_own_cnode]). *)
Theorem krevoke_frame : forall st t s st' x,
  kstep st (KRevoke t s) = Some st' -> lookup (kctes st) s = Some x ->
  forall e, In e (kctes st') <->
    In e (kctes st) /\ ~ In (e_node x) (e_anc e) /\ alive (kobjs st') (fst (e_slot e)) = true.
Proof.
  intros st t s st' x E L e; simpl in E.
  destruct (usable st t s); try discriminate; rewrite L in E.
  destruct (is_zombie (e_cap x)); try discriminate.
  inversion E; subst st'; clear E; split.
  - intros He; split; [|split].
    + apply collect_sub in He; simpl in He; apply filter_In in He; tauto.
    + apply collect_sub in He; simpl in He; apply filter_In in He.
      apply not_desc_of_iff; tauto.
    + apply collect_live; auto.
  - intros [He [Hn Ha]]; unfold collect in *.
    apply collect_iter_keeps; auto; simpl.
    apply filter_In; split; auto; apply not_desc_of_iff; auto.
Qed.

(** Theorem 2 on [Kernel.v]: in any reachable state, after a successful
    revoke of the capability [x] in slot [s], no capability left in the
    system was a (transitive) CDT descendant of [x] before, and none is a
    descendant of a capability with [x]'s node (so of [x], if it is still
    there) after. Unlike [Theorems.revoke_complete], [x] itself need not
    remain ([revoke_destroys_own_cnode]). *)
Theorem krevoke_complete : forall root_lbl slots us ops t s x st',
  let st := krun (kinit root_lbl slots us) ops in
  kstep st (KRevoke t s) = Some st' -> lookup (kctes st) s = Some x ->
  (forall e, In e (kctes st') -> ~ kdesc st e x) /\
  (forall e y, kdesc st' e y -> e_node y <> e_node x).
Proof.
  intros root_lbl slots us ops t s x st' st E L.
  assert (Hi : KInv st) by apply kreachable_inv.
  assert (Hi' : KInv st') by (apply (kstep_inv st (KRevoke t s)); auto).
  split.
  - intros e He Hd; destruct (kdesc_anc st e x Hi Hd) as [_ [_ Hin]].
    apply (krevoke_frame st t s st' x E L e) in He; tauto.
  - intros e y Hd Hn; destruct (kdesc_anc st' e y Hi' Hd) as [He [_ Hin]].
    apply (krevoke_frame st t s st' x E L e) in He; rewrite Hn in Hin; tauto.
Qed.

(** ** Finding: a revoke can destroy the revoked capability

    The root server retypes its untyped (slot (0, 2)) into a CNode [3]
    whose capability lands in (0, 3) — a CDT child of the untyped
    capability — then moves the untyped capability into that CNode (slot
    (3, 0)) and copies its TCB capability to (3, 1). Revoking (3, 0)
    deletes (0, 3), the last capability to CNode 3, which reclamation then
    destroys with its contents: the revoked untyped capability itself and
    the TCB copy, which is no descendant of it; then the untyped object.
    So [Theorems.revoke_complete] ("the capability in [s] is still there")
    and the frame of [Theorems.revoke_frame] are false on [Kernel.v]. *)
Definition rv_before : kstate :=
  krun (kinit 0 4 [(0, 4096, 1)])
       [KRetype 1 (0, 2) CNodeObj 128 [(0, 3)]; KMove 1 (0, 2) (3, 0); KCopy 1 (0, 1) (3, 1)].

Example revoke_destroys_own_cnode :
  (map (fun e => (e_slot e, c_obj (e_cap e), e_node e, e_anc e)) (kctes rv_before),
   match kstep rv_before (KRevoke 1 (3, 0)) with
   | Some st' => Some (map e_slot (kctes st'), map o_id (kobjs st'))
   | None => None
   end)
  = ([((3, 1), 1, 4, [1]); ((3, 0), 2, 2, []); ((0, 3), 3, 3, [2]);
      ((0, 0), 0, 0, []); ((0, 1), 1, 1, [])],
     Some ([(0, 0); (0, 1)], [0; 1])).
Proof. vm_compute. reflexivity. Qed.
