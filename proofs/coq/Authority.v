(** * Confinement over the authority graph derived from capabilities

    The authority of a state ([auth]) is a graph between labels, read off
    the state as seL4's [state_objs_to_policy] does: every capability in a
    slot gives its CNode's label authority over its object's label (one
    edge per right: receive, send, grant, grant-reply for endpoints and
    notifications, read and write for frames, control for every other
    type); every mapping gives the VSpace's label read (and write if
    writable) authority over the frame's label (a mapping into an IOSpace,
    [IoSpace.v], gives the IOSpace's label the device's DMA authority over
    the frame's label in the same way); every thread bound to a CSpace root
    gives the TCB's label control over the root's label; every IOSpace
    control capability gives its CNode's label control over every IOSpace
    issued through its object (the holder may issue the function's IOSpace
    again, [IoSpace.v]).

    A policy [G] is well-formed ([wf], in the spirit of seL4's
    [policy_wellformed]) when it is reflexive, control over a label moves
    authority both ways, a grant-capable endpoint carries the sender's
    authority to every receiver, and a grant-reply or grant capability
    carries the receiver's authority back to the caller (the kernel's
    reply capability may carry capabilities when the caller's endpoint
    capability has either right).

    Theorem ([confinement_step], [confinement_run]): for every well-formed
    policy and every operation of [Kernel.v], if the state's authority is
    within the policy, so is the authority after the step; hence after any
    sequence of operations by any threads. No reachability invariant is
    assumed: the statement holds for every state. *)

From Coq Require Import List Arith Bool Lia.
Import ListNotations.
From Tileos Require Import Model Invariants Kernel.

Inductive authk := Control | Receive | Send | AGrant | AGrantReply | ARead | AWrite.

Definition authk_eq_dec : forall a b : authk, {a = b} + {a <> b}.
Proof. decide equality. Defined.

(** The authority a capability confers over its object. *)
Definition cap_auth (c : cap) (a : authk) : Prop :=
  match c_type c with
  | EndpointObj | NotificationObj =>
      (a = Receive /\ r_read (c_rights c) = true) \/
      (a = Send /\ r_write (c_rights c) = true) \/
      (a = AGrant /\ r_grant (c_rights c) = true) \/
      (a = AGrantReply /\ r_grant_reply (c_rights c) = true)
  | FrameObj =>
      (a = ARead /\ r_read (c_rights c) = true) \/ (a = AWrite /\ r_write (c_rights c) = true)
  | _ => a = Control
  end.

(** The IOSpace object [i] was issued through the IOSpace control object of
    the capability in [e] ([IoSpace.v] records it as [i]'s parent). *)
Definition io_issued (e : cte) (i : obj) : Prop :=
  c_type (e_cap e) = IoSpaceControlObj /\ o_type i = IoSpaceObj /\
  o_parent i = Some (c_obj (e_cap e)).

(** The authority graph of a state, between labels. *)
Inductive auth (st : kstate) : nat -> authk -> nat -> Prop :=
| auth_cap : forall e a, In e (kctes st) -> cap_auth (e_cap e) a ->
    auth st (klbl st (fst (e_slot e))) a (klbl st (c_obj (e_cap e)))
| auth_map_r : forall m, In m (kmaps st) ->
    auth st (klbl st (m_vs m)) ARead (klbl st (m_frame m))
| auth_map_w : forall m, In m (kmaps st) -> m_write m = true ->
    auth st (klbl st (m_vs m)) AWrite (klbl st (m_frame m))
| auth_bind : forall b, In b (kbind st) ->
    auth st (klbl st (fst b)) Control (klbl st (snd b))
| auth_io : forall e i, In e (kctes st) -> In i (kobjs st) -> io_issued e i ->
    auth st (klbl st (fst (e_slot e))) Control (klbl st (o_id i)).

Definition policy := nat -> authk -> nat -> Prop.

(** The state's authority is within [G]. *)
Definition within (st : kstate) (G : policy) : Prop :=
  forall x a y, auth st x a y -> G x a y.

Record wf (G : policy) : Prop := {
  wf_refl : forall l a, G l a l;
  wf_ctl_to : forall x y a z, G x Control y -> G x a z -> G y a z;
  wf_ctl_from : forall x y a z, G x Control y -> G y a z -> G x a z;
  wf_grant : forall s r e a z,
    G s AGrant e -> G s Send e -> G r Receive e -> G s a z -> G r a z;
  wf_reply : forall c s e a z,
    G c AGrantReply e -> G c Send e -> G s Receive e -> G s a z -> G c a z;
  wf_reply_grant : forall c s e a z,
    G c AGrant e -> G c Send e -> G s Receive e -> G s a z -> G c a z
}.

(** ** Edges, one source at a time *)

Definition edges_ok (G : policy) (st : kstate) : Prop :=
  (forall e, In e (kctes st) -> forall a, cap_auth (e_cap e) a ->
     G (klbl st (fst (e_slot e))) a (klbl st (c_obj (e_cap e)))) /\
  (forall m, In m (kmaps st) ->
     G (klbl st (m_vs m)) ARead (klbl st (m_frame m)) /\
     (m_write m = true -> G (klbl st (m_vs m)) AWrite (klbl st (m_frame m)))) /\
  (forall b, In b (kbind st) -> G (klbl st (fst b)) Control (klbl st (snd b))) /\
  (forall e i, In e (kctes st) -> In i (kobjs st) -> io_issued e i ->
     G (klbl st (fst (e_slot e))) Control (klbl st (o_id i))).

Lemma within_iff : forall st G, within st G <-> edges_ok G st.
Proof.
  intros st G; split.
  - intros W; repeat split; intros.
    + apply W; apply auth_cap; auto.
    + apply W; apply auth_map_r; auto.
    + apply W; apply auth_map_w; auto.
    + apply W; apply auth_bind; auto.
    + intros; apply W; apply auth_io; auto.
  - intros [Hc [Hm [Hb Hi]]] x a y H; destruct H.
    + apply Hc; auto.
    + apply (Hm m H).
    + apply (Hm m H); auto.
    + apply Hb; auto.
    + apply Hi; auto.
Qed.

Definition flows (G : policy) (x y : nat) : Prop := forall a z, G x a z -> G y a z.
Definition eqv (G : policy) (x y : nat) : Prop := flows G x y /\ flows G y x.

Lemma ctl_eqv : forall G x y, wf G -> G x Control y -> eqv G x y.
Proof.
  intros G x y W H; split; intros a z Hz.
  - apply (wf_ctl_to G W x y a z); auto.
  - apply (wf_ctl_from G W x y a z); auto.
Qed.

Lemma eqv_trans : forall G x y z, eqv G x y -> eqv G y z -> eqv G x z.
Proof. unfold eqv, flows; intros; intuition. Qed.

Lemma eqv_sym : forall G x y, eqv G x y -> eqv G y x.
Proof. unfold eqv; tauto. Qed.

Lemma eqv_refl : forall G x, eqv G x x.
Proof. unfold eqv, flows; auto. Qed.

Lemma ctl_all : forall G x y a, wf G -> G x Control y -> G x a y.
Proof. intros G x y a W H; apply (wf_ctl_from G W x y a y); auto; apply wf_refl; auto. Qed.

Lemma cap_auth_sub : forall c c' a,
  c_type c' = c_type c -> rsub (c_rights c') (c_rights c) -> cap_auth c' a -> cap_auth c a.
Proof.
  unfold cap_auth; intros c c' a Ht [R1 [R2 [R3 R4]]]; rewrite Ht.
  destruct (c_type c); intuition.
Qed.

Lemma cap_auth_control : forall c,
  c_type c <> EndpointObj -> c_type c <> NotificationObj -> c_type c <> FrameObj ->
  cap_auth c Control.
Proof. unfold cap_auth; intros c H1 H2 H3; destruct (c_type c); congruence. Qed.

(** ** What a thread may name *)

(** A thread has control over its CSpace root: through the capability in
    its TCB's root slot, or through its [kbind] record. *)
Lemma root_eqv : forall G st t r,
  wf G -> within st G -> root_of st t = Some r -> eqv G (klbl st t) (klbl st r).
Proof.
  intros G st t r W Hw Hr; apply within_iff in Hw; destruct Hw as [Hc [_ [Hb _]]].
  unfold root_of in Hr.
  destruct (lookup (kctes st) (tcb_root_slot t)) as [e|] eqn:L.
  - destruct (otype_eqb (c_type (e_cap e)) CNodeObj) eqn:T; try discriminate.
    inversion Hr; subst r; apply otype_eqb_true in T.
    destruct (lookup_some _ _ _ L) as [He Hes].
    replace t with (fst (e_slot e)) by (rewrite Hes; reflexivity).
    apply ctl_eqv; auto; apply Hc; auto; apply cap_auth_control; rewrite T; discriminate.
  - destruct (find (fun b => fst b =? t) (kbind st)) as [b|] eqn:F; try discriminate; simpl in Hr.
    inversion Hr; subst r.
    apply find_some in F; destruct F as [Hbin Hbt]; apply Nat.eqb_eq in Hbt.
    subst t; apply ctl_eqv; auto.
Qed.

Lemma usable_eqv : forall G st t s,
  wf G -> within st G -> usable st t s = true -> eqv G (klbl st t) (klbl st (fst s)).
Proof.
  intros G st t s W Hw Hu.
  unfold usable in Hu.
  destruct (root_of st t) as [r|] eqn:R; try discriminate.
  assert (Hroot : eqv G (klbl st t) (klbl st r)) by (apply root_eqv; auto).
  apply within_iff in Hw; destruct Hw as [Hc [_ [Hb _]]].
  apply andb_true_iff in Hu; destruct Hu as [Hr _].
  unfold reach in Hr; apply orb_true_iff in Hr; destruct Hr as [Hr|Hr].
  - apply Nat.eqb_eq in Hr; first [rewrite Hr | rewrite <- Hr]; auto.
  - apply existsb_exists in Hr; destruct Hr as [e [He Hp]].
    apply andb_true_iff in Hp; destruct Hp as [Hp Ho]; apply andb_true_iff in Hp;
      destruct Hp as [Hs Ht]; apply Nat.eqb_eq in Hs, Ho; apply otype_eqb_true in Ht.
    apply (eqv_trans _ _ (klbl st r)); auto.
    rewrite <- Hs, <- Ho; apply ctl_eqv; auto.
    apply Hc; auto; apply cap_auth_control; rewrite Ht; discriminate.
Qed.

Lemma is_type_some : forall st s ty x,
  is_type st s ty = Some x -> In x (kctes st) /\ e_slot x = s /\ c_type (e_cap x) = ty.
Proof.
  unfold is_type; intros st s ty x H.
  destruct (lookup (kctes st) s) as [y|] eqn:L; try discriminate.
  destruct (otype_eqb (c_type (e_cap y)) ty) eqn:T; try discriminate.
  inversion H; subst y; apply otype_eqb_true in T.
  destruct (lookup_some _ _ _ L); auto.
Qed.

Lemma rand_sub : forall a b, rsub (rand a b) b.
Proof.
  intros [a1 a2 a3 a4] [b1 b2 b3 b4]; unfold rsub, rand; simpl.
  repeat split; intros H; apply andb_true_iff in H; tauto.
Qed.

Lemma derive_some : forall c r b c',
  derive c r b = Some c' ->
  c_obj c' = c_obj c /\ c_type c' = c_type c /\ rsub (c_rights c') (c_rights c).
Proof.
  unfold derive; intros c r b c' H.
  destruct (c_type c) eqn:T; try discriminate;
    try (inversion H; subst; simpl; auto using rsub_refl; fail);
    destruct (b =? 0); try destruct (c_badge c =? 0); inversion H; subst; simpl;
    auto using rand_sub.
Qed.

Lemma kmutate_some : forall c b c', kmutate c b = Some c' -> c' = c.
Proof.
  unfold kmutate; intros c b c' H; destruct (c_type c); try destruct (b =? 0);
    inversion H; auto.
Qed.

(** ** Capability changes that keep the rest *)

(** Each entry after the step has a witness before it: same object and
    type, no more rights, and authority can flow from the witness's CNode
    label to the new entry's CNode label. *)
Definition witnessed (G : policy) (st : kstate) (e' : cte) : Prop :=
  exists e, In e (kctes st) /\ c_obj (e_cap e) = c_obj (e_cap e') /\
    c_type (e_cap e) = c_type (e_cap e') /\ rsub (c_rights (e_cap e')) (c_rights (e_cap e)) /\
    flows G (klbl st (fst (e_slot e))) (klbl st (fst (e_slot e'))).

Lemma within_caps : forall G st st',
  within st G -> klbl st' = klbl st -> kmaps st' = kmaps st -> kbind st' = kbind st ->
  kobjs st' = kobjs st ->
  (forall e', In e' (kctes st') -> witnessed G st e') -> within st' G.
Proof.
  intros G st st' Hw Hl Hm Hb Ho Hwit; apply within_iff in Hw; destruct Hw as [Hc [Hm0 [Hb0 Hi0]]].
  apply within_iff; unfold edges_ok; rewrite Hl, Hm, Hb, Ho; repeat split; auto.
  - intros e' He' a Ha.
    destruct (Hwit e' He') as [e [He [O [T [R F]]]]].
    rewrite <- O; apply F; apply Hc; auto.
    apply (cap_auth_sub _ (e_cap e')); auto.
  - apply Hm0; auto.
  - apply Hm0; auto.
  - intros e' i He' Hi [T1 [T2 P]].
    destruct (Hwit e' He') as [e [He [O [T [R F]]]]].
    apply F; apply Hi0; auto; unfold io_issued; rewrite T, O; auto.
Qed.

Lemma witness_self : forall G st e, In e (kctes st) -> witnessed G st e.
Proof.
  intros G st e He; exists e; repeat split; auto using rsub_refl; intros a z H; auto.
Qed.

Lemma witness_from : forall G st x e',
  In x (kctes st) -> c_obj (e_cap e') = c_obj (e_cap x) -> c_type (e_cap e') = c_type (e_cap x) ->
  rsub (c_rights (e_cap e')) (c_rights (e_cap x)) ->
  flows G (klbl st (fst (e_slot x))) (klbl st (fst (e_slot e'))) -> witnessed G st e'.
Proof. intros G st x e' Hx O T R F; exists x; split; [auto|split; [auto|split; [auto|split; auto]]]. Qed.

Lemma remove_in : forall s l e, In e (remove_slot s l) -> In e l.
Proof. unfold remove_slot; intros s l e H; apply filter_In in H; tauto. Qed.

Lemma within_sub : forall G st st',
  within st G -> klbl st' = klbl st -> incl (kctes st') (kctes st) ->
  incl (kmaps st') (kmaps st) -> incl (kbind st') (kbind st) ->
  incl (kobjs st') (kobjs st) -> within st' G.
Proof.
  intros G st st' Hw Hl Hc Hm Hb Ho x a y H; destruct H; rewrite Hl; apply Hw.
  - apply auth_cap; auto.
  - apply auth_map_r; auto.
  - apply auth_map_w; auto.
  - apply auth_bind; auto.
  - apply auth_io; auto.
Qed.

Lemma collect_pass_sub : forall st,
  klbl (collect_pass st) = klbl st /\ incl (kctes (collect_pass st)) (kctes st) /\
  incl (kmaps (collect_pass st)) (kmaps st) /\ incl (kbind (collect_pass st)) (kbind st) /\
  incl (kobjs (collect_pass st)) (kobjs st).
Proof.
  intros st; unfold collect_pass; simpl; repeat split; intros x Hx;
    apply filter_In in Hx; tauto.
Qed.

Lemma collect_klbl : forall st, klbl (collect st) = klbl st.
Proof.
  intros st; unfold collect; generalize (2 * S (length (kobjs st))).
  intros n; revert st; induction n as [|n IH]; simpl; auto.
  intros st; rewrite IH; apply (proj1 (collect_pass_sub st)).
Qed.

Lemma collect_within : forall G st, within st G -> within (collect st) G.
Proof.
  intros G st; unfold collect; generalize (2 * S (length (kobjs st))).
  intros n; revert st; induction n as [|n IH]; simpl; auto.
  intros st Hw; apply IH.
  destruct (collect_pass_sub st) as [L [C [M [B O]]]].
  apply (within_sub G st); auto.
Qed.

(** ** Retype *)

Lemma unused_spec : forall st n, unused st n = true ->
  (forall o, In o (kobjs st) -> o_id o <> n) /\
  (forall e, In e (kctes st) -> fst (e_slot e) <> n /\ c_obj (e_cap e) <> n) /\
  (forall m, In m (kmaps st) -> m_vs m <> n /\ m_frame m <> n) /\
  (forall b, In b (kbind st) -> fst b <> n /\ snd b <> n) /\
  (forall o, In o (kobjs st) -> o_parent o <> Some n).
Proof.
  unfold unused; intros st n H; apply negb_true_iff in H.
  repeat rewrite orb_false_iff in H; destruct H as [[[[Ho Hc] Hm] Hb] Hp].
  assert (Ex : forall {A} (f : A -> bool) l x, existsb f l = false -> In x l -> f x = false).
  { intros A f l x Hf Hx; destruct (f x) eqn:Fx; auto.
    assert (existsb f l = true) by (apply existsb_exists; eauto); congruence. }
  assert (Or : forall b1 b2 : bool, b1 || b2 = false -> b1 = false /\ b2 = false)
    by (intros b1 b2; apply orb_false_iff).
  split; [|split; [|split; [|split]]].
  - intros x Hx E; specialize (Ex _ _ _ _ Ho Hx); simpl in Ex; subst.
    rewrite Nat.eqb_refl in Ex; discriminate.
  - intros x Hx; specialize (Ex _ _ _ _ Hc Hx); simpl in Ex.
    destruct (Or _ _ Ex) as [E1 E2]; apply Nat.eqb_neq in E1, E2; auto.
  - intros x Hx; specialize (Ex _ _ _ _ Hm Hx); simpl in Ex.
    destruct (Or _ _ Ex) as [E1 E2]; apply Nat.eqb_neq in E1, E2; auto.
  - intros x Hx; specialize (Ex _ _ _ _ Hb Hx); simpl in Ex.
    destruct (Or _ _ Ex) as [E1 E2]; apply Nat.eqb_neq in E1, E2; auto.
  - intros x Hx E; specialize (Ex _ _ _ _ Hp Hx); simpl in Ex; rewrite E in Ex.
    rewrite Nat.eqb_refl in Ex; discriminate.
Qed.

Lemma usable_bound : forall st t s,
  usable st t s = true ->
  ((exists r, In (t, r) (kbind st)) \/ exists e, In e (kctes st) /\ e_slot e = tcb_root_slot t) /\
  exists o, In o (kobjs st) /\ o_id o = fst s.
Proof.
  unfold usable, root_of; intros st t s H.
  assert (Hob : slot_ok st s = true ->
                exists o, In o (kobjs st) /\ o_id o = fst s).
  { intros Hs; unfold slot_ok in Hs; destruct (find_obj (kobjs st) (fst s)) as [o|] eqn:Fo;
      try discriminate.
    destruct (find_obj_some _ _ _ Fo); exists o; auto. }
  destruct (lookup (kctes st) (tcb_root_slot t)) as [e|] eqn:L.
  - destruct (otype_eqb (c_type (e_cap e)) CNodeObj); try discriminate.
    bool_hyps; split; auto.
    right; exists e; apply (lookup_some _ _ _ L).
  - destruct (find (fun b => fst b =? t) (kbind st)) as [[b1 b2]|] eqn:F; try discriminate.
    simpl in H; apply find_some in F; destruct F as [Hin Ht]; simpl in Ht.
    apply Nat.eqb_eq in Ht; subst b1.
    bool_hyps; split; auto; left; exists b2; auto.
Qed.

Lemma kcreate_within : forall G st t x u ty size d st',
  wf G -> within st G -> In x (kctes st) -> o_id u = c_obj (e_cap x) ->
  G (klbl st (fst (e_slot x))) Control (klbl st (o_id u)) ->
  eqv G (klbl st t) (klbl st (fst (e_slot x))) ->
  kcreate st t x u ty size d = Some st' ->
  within st' G /\ In x (kctes st') /\
  G (klbl st' (fst (e_slot x))) Control (klbl st' (o_id u)) /\
  eqv G (klbl st' t) (klbl st' (fst (e_slot x))).
Proof.
  intros G st t x u ty size d st' W Hw Hx Hux Hu Ht Hs.
  unfold kcreate in Hs.
  destruct (usable st t d && kempty st d
            && (roundup (kwm st (o_id u)) size + size <=? o_size u)
            && unused st (knext_obj st)) eqn:C; try discriminate.
  bool_hyps; inversion Hs; subst st'; clear Hs; simpl.
  destruct (unused_spec _ _ H0) as [No [Nc [Nm [Nb Np]]]].
  destruct (usable_bound _ _ _ H) as [Hr [o [Ho Hod]]].
  assert (Hd := usable_eqv G st t d W Hw H).
  assert (Lx : forall i, i <> knext_obj st ->
            (if i =? knext_obj st then klbl st (o_id u) else klbl st i) = klbl st i).
  { intros i Hi; apply Nat.eqb_neq in Hi; rewrite Hi; auto. }
  assert (Hxn : fst (e_slot x) <> knext_obj st) by apply (Nc x Hx).
  assert (Hun : o_id u <> knext_obj st) by (rewrite Hux; apply (Nc x Hx)).
  assert (Htn : t <> knext_obj st).
  { destruct Hr as [[r Hr]|[e [He Hes]]]; [apply (Nb _ Hr)|].
    replace t with (fst (e_slot e)) by (rewrite Hes; reflexivity); apply (Nc e He). }
  assert (Hdn : fst d <> knext_obj st) by (rewrite <- Hod; apply No; auto).
  rewrite !Lx; auto.
  split; [|split; [auto|split; auto]].
  apply within_iff; pose proof Hw as Hw0; apply within_iff in Hw; destruct Hw as [Hc [Hm [Hb Hi]]].
  split; [|split; [|split]]; simpl.
  - intros e [<-|He] a Ha; simpl in *.
    + rewrite Lx, Nat.eqb_refl; auto.
      apply (proj1 Hd); apply (proj2 Ht); apply ctl_all; auto.
    + destruct (Nc e He); rewrite !Lx; auto.
  - intros mp Hm'; destruct (Nm mp Hm'); rewrite !Lx; auto.
  - intros b Hb'; destruct (Nb b Hb'); rewrite !Lx; auto.
  - intros e i [<-|He] [<-|Hi'] [T1 [T2 P]]; simpl in *.
    + inversion P; congruence.
    + exfalso; apply (Np i Hi'); auto.
    + destruct (Nc e He) as [Hen Hon]; rewrite Lx, Nat.eqb_refl; auto.
      inversion P as [P']; rewrite P'.
      apply Hc; auto; apply cap_auth_control; rewrite T1; discriminate.
    + destruct (Nc e He); assert (Hin : o_id i <> knext_obj st) by (apply No; auto).
      rewrite !Lx; auto; apply Hi; auto; repeat split; auto.
Qed.

Lemma kretype_within : forall G ds st t x u ty size st',
  wf G -> within st G -> In x (kctes st) -> o_id u = c_obj (e_cap x) ->
  G (klbl st (fst (e_slot x))) Control (klbl st (o_id u)) ->
  eqv G (klbl st t) (klbl st (fst (e_slot x))) ->
  kretype_loop st t x u ty size ds = Some st' -> within st' G.
Proof.
  intros G ds; induction ds as [|d ds IH]; simpl; intros st t x u ty size st' W Hw Hx Hux Hu Ht Hs.
  - inversion Hs; subst; auto.
  - destruct (kcreate st t x u ty size d) as [st1|] eqn:C; try discriminate.
    destruct (kcreate_within G st t x u ty size d st1 W Hw Hx Hux Hu Ht C) as [H1 [H2 [H3 H4]]].
    apply (IH st1 t x u ty size st'); auto.
Qed.

(** ** The theorem *)

Ltac cond := match goal with
  | H : context [if ?c then _ else _] |- _ =>
      let E := fresh "E" in destruct c eqn:E; try discriminate; bool_hyps
  end.

Ltac lk := match goal with
  | H : context [match lookup ?l ?s with _ => _ end] |- _ =>
      let L := fresh "L" in let x := fresh "x" in
      destruct (lookup l s) as [x|] eqn:L; try discriminate;
      destruct (lookup_some _ _ _ L)
  | H : context [match is_type ?st ?s ?ty with _ => _ end] |- _ =>
      let L := fresh "L" in let x := fresh "x" in
      destruct (is_type st s ty) as [x|] eqn:L; try discriminate;
      destruct (is_type_some _ _ _ _ L) as [? [? ?]]
  end.

Ltac srw := repeat match goal with
  | H : e_slot ?x = _ |- context [e_slot ?x] => rewrite H
  end.

Ltac edge Hc y :=
  match goal with Hs : e_slot y = ?s |- _ => rewrite <- Hs end;
  apply Hc; auto; unfold cap_auth;
  match goal with Ht : c_type (e_cap y) = _ |- _ => rewrite Ht end; auto 6.

(** Authority of the acting thread reaches every slot it names. *)
Lemma flow_slots : forall G st t s1 s2,
  wf G -> within st G -> usable st t s1 = true -> usable st t s2 = true ->
  flows G (klbl st (fst s1)) (klbl st (fst s2)).
Proof.
  intros G st t s1 s2 W Hw H1 H2.
  destruct (eqv_trans G _ _ _ (eqv_sym _ _ _ (usable_eqv G st t s1 W Hw H1))
              (usable_eqv G st t s2 W Hw H2)); auto.
Qed.

Lemma derive_into_within : forall G st t src dst r b st',
  wf G -> within st G -> derive_into st t src dst r b = Some st' -> within st' G.
Proof.
  intros G st t src dst r b st' W Hw Hs; unfold derive_into in Hs.
  cond; lk.
  destruct (derive (e_cap x) r b) as [c|] eqn:D; try discriminate.
  destruct (derive_some _ _ _ _ D) as [D1 [D2 D3]].
  inversion Hs; subst st'; clear Hs.
  apply (within_caps G st); auto.
  intros e' [<-|He']; [|apply witness_self; auto].
  apply (witness_from G st x); simpl; auto.
  subst src; apply (flow_slots G st t); auto.
Qed.

Lemma relocate_within : forall G st t src dst f st',
  wf G -> within st G -> (forall c c', f c = Some c' -> c' = c) ->
  relocate st t src dst f = Some st' -> within st' G.
Proof.
  intros G st t src dst f st' W Hw Hf Hs; unfold relocate in Hs.
  cond; lk.
  destruct (f (e_cap x)) as [c|] eqn:D; try discriminate.
  apply Hf in D; subst c.
  inversion Hs; subst st'; clear Hs.
  apply (within_caps G st); auto.
  intros e' [<-|He']; [|apply witness_self; eapply remove_in; eauto].
  apply (witness_from G st x); simpl; auto using rsub_refl.
  subst src; apply (flow_slots G st t); auto.
Qed.

(** An IPC transfer keeps the authority within [G] if the rights [grant]
    accepts let authority flow from the sender's endpoint capability's CNode
    to the receiver's (a message delivered without the capability changes
    nothing). *)
Lemma transfer_within : forall G st t ep src t2 ep2 dst ok grant unwrap st',
  wf G -> within st G ->
  (forall xe x2, In xe (kctes st) -> e_slot xe = ep -> c_type (e_cap xe) = EndpointObj ->
     In x2 (kctes st) -> e_slot x2 = ep2 -> c_type (e_cap x2) = EndpointObj ->
     c_obj (e_cap xe) = c_obj (e_cap x2) -> ok (c_rights (e_cap xe)) (c_rights (e_cap x2)) = true ->
     grant (c_rights (e_cap xe)) (c_rights (e_cap x2)) = true ->
     flows G (klbl st (fst ep)) (klbl st (fst ep2))) ->
  transfer st t ep src t2 ep2 dst ok grant unwrap = Some st' -> within st' G.
Proof.
  intros G st t ep src t2 ep2 dst ok grant unwrap st' W Hw Hok Hs; unfold transfer in Hs.
  cond; lk; lk.
  destruct ((c_obj (e_cap x) =? c_obj (e_cap x0)) && ok (c_rights (e_cap x)) (c_rights (e_cap x0)))
    eqn:C; try discriminate.
  apply andb_true_iff in C; destruct C as [Co Cok]; apply Nat.eqb_eq in Co.
  destruct (grant (c_rights (e_cap x)) (c_rights (e_cap x0)) && usable st t src
            && usable st t2 dst && kempty st dst) eqn:Cg; inversion Hs; subst st'; clear Hs; auto.
  bool_hyps.
  unfold transfer_cap.
  destruct (lookup (kctes st) src) as [z|] eqn:Lz; auto.
  destruct (lookup_some _ _ _ Lz) as [Hz Hzs].
  destruct (unwraps _ (e_cap z)); auto.
  destruct (derive (e_cap z) all_rights 0) as [c|] eqn:D; auto.
  destruct (derive_some _ _ _ _ D) as [D1 [D2 D3]].
  apply (within_caps G st); auto.
  intros e' [<-|He']; [|apply witness_self; auto].
  apply (witness_from G st z); simpl; auto.
  intros a y Hy.
  apply (flow_slots G st t2 ep2 dst); auto.
  apply (Hok x x0); auto.
  apply (flow_slots G st t src ep); auto; rewrite <- Hzs; auto.
Qed.

(** What [Kernel.can_zombify] checks. *)
Lemma can_zombify_some : forall st s x n,
  can_zombify st s x = Some n ->
  c_type (e_cap x) = CNodeObj /\ has_child (kobjs st) (c_obj (e_cap x)) = false.
Proof.
  intros st s x n H; unfold can_zombify in H.
  destruct (find_obj (kobjs st) (c_obj (e_cap x))); [|discriminate].
  match type of H with (if ?c then _ else _) = _ => destruct c eqn:C end; [|discriminate].
  bool_hyps; auto.
Qed.

(** A zombie replacing a capability that confers control (a CNode
    capability, or another zombie) confers control over the same object
    from the same slot, as the capability did. *)
Lemma rezombie_within : forall G st s x inner,
  within st G -> lookup (kctes st) s = Some x -> cap_auth (e_cap x) Control ->
  within (rezombie st s x inner) G.
Proof.
  intros G st s x inner Hw L Ht; destruct (lookup_some _ _ _ L) as [Hx Hxs]; unfold rezombie.
  intros a k b Ha; destruct Ha as [e k He Hk|m Hm|m Hm Hw'|bd Hb|e i He Hi Hio]; simpl in *.
  - destruct He as [<-|He].
    + unfold cap_auth, zombie_of in Hk; simpl in Hk |- *; destruct inner; subst k;
        rewrite <- Hxs; apply Hw; apply auth_cap; auto.
    + apply Hw; apply auth_cap; auto; eapply remove_in; eauto.
  - apply Hw; apply auth_map_r; auto.
  - apply Hw; apply auth_map_w; auto.
  - apply Hw; apply auth_bind; auto.
  - destruct He as [<-|He].
    + destruct Hio as [Ht' _]; simpl in Ht'; destruct inner; discriminate.
    + apply Hw; apply auth_io; auto; eapply remove_in; eauto.
Qed.

Lemma zombify_within : forall G st s x inner n,
  within st G -> lookup (kctes st) s = Some x -> c_type (e_cap x) = CNodeObj ->
  within (zombify st s x inner n) G.
Proof.
  intros G st s x inner n Hw L Ht; unfold zombify.
  apply (within_sub G (rezombie st s x inner)); simpl; auto using incl_refl.
  apply rezombie_within; auto; unfold cap_auth; rewrite Ht; auto.
Qed.

Lemma zombie_control : forall c, is_zombie c = true -> cap_auth c Control.
Proof.
  intros c Z; unfold is_zombie in Z; apply orb_true_iff in Z;
    destruct Z as [Z|Z]; apply otype_eqb_true in Z; unfold cap_auth; rewrite Z; auto.
Qed.

Lemma kdel_within : forall G st s, within st G -> within (kdel st s) G.
Proof.
  intros G st s H; unfold kdel; apply collect_within; apply (within_sub G st); simpl;
    auto using incl_refl.
  intros e He; eapply remove_in; eauto.
Qed.

Lemma set_left_within : forall G st o n, within st G -> within (set_left st o n) G.
Proof. intros G st o n H; apply (within_sub G st); simpl; auto using incl_refl. Qed.


Lemma kunit_in_within : forall G fuel st s x st',
  within st G -> kunit_in fuel st s x = Some st' -> within st' G.
Proof.
  intros G fuel; induction fuel as [|f IH]; intros st s x st' Hw H; simpl in H;
    (destruct (has_child (kobjs st) (c_obj (e_cap x))); [discriminate|]);
    (destruct (kwm st (c_obj (e_cap x))) as [|r];
      [inversion H; subst; apply kdel_within; auto|]);
    (destruct (slot_eqb _ s); [inversion H; subst; apply set_left_within; auto|]);
    (destruct (lookup (kctes st) (c_obj (e_cap x), r)) as [y|] eqn:Ly;
      [|inversion H; subst; apply set_left_within; auto]);
    (destruct (is_zombie (e_cap y)) eqn:Zy;
      [destruct (is_top (e_cap y));
        [inversion H; subst; apply rezombie_within; auto; apply zombie_control; auto
        |try discriminate; eapply IH; eauto]|]);
    (destruct (can_zombify st (c_obj (e_cap x), r) y) as [n|] eqn:C; inversion H; subst;
      [apply zombify_within; auto; apply (can_zombify_some _ _ _ _ C)
      |apply kdel_within, set_left_within; auto]).
Qed.

(** One unit of deletion work ([Kernel.kunit]) keeps the authority within
    [G]: it removes capabilities, changes a deletion count, or replaces the
    last capability to a CNode with a zombie ([zombify_within]). *)
Lemma kunit_within : forall G st s st',
  within st G -> kunit st s = Some st' -> within st' G.
Proof.
  intros G st s st' Hw H; unfold kunit in H.
  destruct (lookup (kctes st) s) as [x|] eqn:L; [|inversion H; subst; auto].
  destruct (is_zombie (e_cap x)); [eapply kunit_in_within; eauto|].
  destruct (can_zombify st s x) as [n|] eqn:C; inversion H; subst;
    [apply zombify_within; auto; apply (can_zombify_some _ _ _ _ C)|apply kdel_within; auto].
Qed.

Theorem confinement_step : forall G st o st',
  wf G -> within st G -> kstep st o = Some st' -> within st' G.
Proof.
  intros G st o st' W Hw Hs.
  assert (Hc : forall e a, In e (kctes st) -> cap_auth (e_cap e) a ->
                G (klbl st (fst (e_slot e))) a (klbl st (c_obj (e_cap e)))).
  { intros e a He Ha; apply Hw; apply auth_cap; auto. }
  destruct o; simpl in Hs.
  - (* Copy *)
    apply (derive_into_within G st t src dst all_rights 0); auto.
  - (* Mint *)
    apply (derive_into_within G st t src dst r badge); auto.
  - (* Move *)
    apply (relocate_within G st t src dst (fun c => if is_zombie c then None else Some c)); auto.
    intros c c' E; destruct (is_zombie c); congruence.
  - (* Mutate *)
    apply (relocate_within G st t src dst (fun c => kmutate c data)); auto.
    intros c c' E; apply (kmutate_some c data c' E).
  - (* Rotate *)
    cond; lk; lk; cond; inversion Hs; subst st'; clear Hs.
    apply (within_caps G st); auto.
    intros e' [<-|[<-|He']].
    + apply (witness_from G st x0); simpl; auto using rsub_refl.
      srw; apply (flow_slots G st t); auto.
    + apply (witness_from G st x); simpl; auto using rsub_refl.
      srw; apply (flow_slots G st t); auto.
    + apply witness_self; eapply remove_in; eapply remove_in; eauto.
  - (* Delete *)
    cond; destruct (lookup (kctes st) s) as [x|] eqn:L; [|inversion Hs; subst; auto].
    destruct (lookup_some _ _ _ L); inversion Hs; subst st'; clear Hs.
    apply collect_within; apply (within_sub G st); simpl; auto using incl_refl.
    intros e He; eapply remove_in; eauto.
  - (* Revoke *)
    cond; destruct (lookup (kctes st) s) as [x|] eqn:L; [|inversion Hs; subst; auto].
    destruct (lookup_some _ _ _ L); cond; inversion Hs; subst st'; clear Hs.
    apply collect_within; apply (within_sub G st); simpl; auto using incl_refl.
    intros e He; apply filter_In in He; tauto.
  - (* Retype *)
    cond; lk.
    destruct (find_obj (kobjs st) (c_obj (e_cap x))) as [u|] eqn:F; try discriminate.
    destruct (find_obj_some _ _ _ F) as [Hu Hux].
    cond. cond.
    eapply (kretype_within G dsts _ t x u ty size st' W); [| | | | |exact Hs]; simpl; auto.
    + apply (within_sub G st); simpl; auto using incl_refl.
    + rewrite Hux; apply ctl_all; auto; apply Hc; auto.
      apply cap_auth_control;
        match goal with H : c_type (e_cap x) = Untyped |- _ => rewrite H end; discriminate.
    + srw; apply usable_eqv; auto.
  - (* Send *)
    eapply (transfer_within G st t ep src rcv rep dst _ _ _ st' W Hw); [|exact Hs].
    intros xe x2 He Hes Het H2 H2s H2t Hobj Hok Hgr.
    apply andb_true_iff in Hok; destruct Hok as [Hwr Hrr].
    apply andb_true_iff in Hgr; destruct Hgr as [Hgr _].
    intros a z Hz; rewrite <- H2s.
    apply (wf_grant G W (klbl st (fst (e_slot xe))) _ (klbl st (c_obj (e_cap xe))) a z);
      [apply Hc; auto; unfold cap_auth; rewrite Het; auto 6
      |apply Hc; auto; unfold cap_auth; rewrite Het; auto 6
      |rewrite Hobj; apply Hc; auto; unfold cap_auth; rewrite H2t; auto 6
      |rewrite Hes; auto].
  - (* Reply *)
    eapply (transfer_within G st t ep src caller cep dst _ _ _ st' W Hw); [|exact Hs].
    intros xe x2 He Hes Het H2 H2s H2t Hobj Hok Hgr.
    apply andb_true_iff in Hok; destruct Hok as [Hrd Hwr].
    intros a z Hz; rewrite <- H2s.
    apply orb_true_iff in Hgr; destruct Hgr as [Hgr|Hgr].
    + apply (wf_reply_grant G W (klbl st (fst (e_slot x2))) (klbl st (fst (e_slot xe)))
               (klbl st (c_obj (e_cap x2))) a z);
        [apply Hc; auto; unfold cap_auth; rewrite H2t; auto 6
        |apply Hc; auto; unfold cap_auth; rewrite H2t; auto 6
        |rewrite <- Hobj; apply Hc; auto; unfold cap_auth; rewrite Het; auto 6
        |rewrite Hes; auto].
    + apply (wf_reply G W (klbl st (fst (e_slot x2))) (klbl st (fst (e_slot xe)))
               (klbl st (c_obj (e_cap x2))) a z);
        [apply Hc; auto; unfold cap_auth; rewrite H2t; auto 6
        |apply Hc; auto; unfold cap_auth; rewrite H2t; auto 6
        |rewrite <- Hobj; apply Hc; auto; unfold cap_auth; rewrite Het; auto 6
        |rewrite Hes; auto].
  - (* Bind *)
    cond; lk; lk; inversion Hs; subst st'; clear Hs.
    apply within_iff in Hw; pose proof Hw as Hw1; apply within_iff in Hw.
    assert (Ht : G (klbl st (fst tcb)) Control (klbl st (c_obj (e_cap x)))) by (edge Hc x).
    assert (F1 : flows G (klbl st (fst cn)) (klbl st (c_obj (e_cap x)))).
    { intros a z Hz; apply (proj1 (ctl_eqv G _ _ W Ht)).
      apply (flow_slots G st t cn tcb); auto. }
    unfold kbind_root.
    set (st0 := collect (set_kctes st (remove_slot (tcb_root_slot (c_obj (e_cap x))) (kctes st)))).
    assert (W0 : within st0 G).
    { apply collect_within; apply (within_sub G st); simpl; auto using incl_refl.
      intros e He; eapply remove_in; eauto. }
    assert (Lb0 : klbl st0 = klbl st) by (unfold st0; rewrite collect_klbl; reflexivity).
    set (st1 := mkK (kobjs st0) (kctes st0) (klbl st0) (kwm st0) (kmaps st0)
                    (filter (fun b => negb (fst b =? c_obj (e_cap x))) (kbind st0))
                    (knext_obj st0) (knext_node st0)).
    assert (W1 : within st1 G).
    { apply (within_sub G st0); simpl; auto using incl_refl.
      intros b Hb'; apply filter_In in Hb'; tauto. }
    destruct (lookup (kctes st1) cn) as [y|] eqn:Ly; auto.
    destruct (otype_eqb (c_type (e_cap y)) CNodeObj); auto.
    destruct (lookup_some _ _ _ Ly) as [Hy Hys].
    apply (within_caps G st1); auto.
    intros e' [<-|He']; [|apply witness_self; auto].
    apply (witness_from G st1 y); simpl; auto using rsub_refl.
    rewrite Hys; simpl; rewrite Lb0; exact F1.
  - (* Map *)
    cond; lk; lk; cond; inversion Hs; subst st'; clear Hs.
    apply within_iff; pose proof Hw as Hw0; apply within_iff in Hw0; destruct Hw0 as [Hc' [Hm [Hb Hi]]].
    split; [|split; [|split]]; simpl; auto.
    assert (Hv : G (klbl st (fst vs)) Control (klbl st (c_obj (e_cap x)))) by (edge Hc x).
    intros mp [<-|Hm']; simpl; [|apply Hm; auto].
    split; [|intros Hwr]; apply (wf_ctl_to G W _ _ _ _ Hv);
      apply (flow_slots G st t fr vs); auto; edge Hc x0.
  - (* Unmap *)
    cond; lk; inversion Hs; subst st'; clear Hs.
    apply (within_sub G st); simpl; auto using incl_refl.
    intros m Hm; apply filter_In in Hm; tauto.
  - (* DeleteStep *)
    cond; apply (kunit_within G st s); auto.
  - (* RevokeStep *)
    cond; destruct (lookup (kctes st) s) as [x|]; [|inversion Hs; subst; auto].
    cond; destruct (first_desc st (e_node x)) as [d|];
      [apply (kunit_within G st (e_slot d)); auto|inversion Hs; subst; auto].
Qed.

Theorem confinement_run : forall G st ops,
  wf G -> within st G -> within (krun st ops) G.
Proof.
  intros G st ops W; revert st; induction ops as [|o ops IH]; simpl; auto.
  intros st Hw; apply IH; unfold kstep_or_stay.
  destruct (kstep st o) as [st'|] eqn:E; auto.
  apply (confinement_step G st o st'); auto.
Qed.

(** The usable form: authority the policy does not allow never appears. *)
Theorem confinement : forall G st ops x a y,
  wf G -> within st G -> ~ G x a y -> ~ auth (krun st ops) x a y.
Proof.
  intros G st ops x a y W Hw Hn Ha; apply Hn.
  apply (confinement_run G st ops W Hw); auto.
Qed.

(** ** Policies given as a finite table, with a decision procedure for [wf]

    [pol tbl] is the reflexive closure of the triples listed in [tbl];
    [wfb tbl] checks the [wf] rules over the labels named in [tbl], which
    suffices ([wfb_sound]). Used by [Examples.v]. *)

Definition authk_eqb (a b : authk) : bool := if authk_eq_dec a b then true else false.

Definition tri_eqb (t u : nat * authk * nat) : bool :=
  let '(x, a, y) := t in let '(x', a', y') := u in
  (x =? x') && authk_eqb a a' && (y =? y').

Definition polb (tbl : list (nat * authk * nat)) (x : nat) (a : authk) (y : nat) : bool :=
  (x =? y) || existsb (tri_eqb (x, a, y)) tbl.

Definition pol (tbl : list (nat * authk * nat)) : policy := fun x a y => polb tbl x a y = true.

Definition labs (tbl : list (nat * authk * nat)) : list nat :=
  flat_map (fun t => let '(x, _, y) := t in [x; y]) tbl.

Definition all_authk : list authk := [Control; Receive; Send; AGrant; AGrantReply; ARead; AWrite].

Lemma all_authk_in : forall a, In a all_authk.
Proof. destruct a; simpl; auto 8. Qed.

Definition wfb (tbl : list (nat * authk * nat)) : bool :=
  let L := labs tbl in
  let p := polb tbl in
  forallb (fun x => forallb (fun y => forallb (fun a => forallb (fun z =>
    implb (p x Control y && p x a z) (p y a z) &&
    implb (p x Control y && p y a z) (p x a z)) L) all_authk) L) L &&
  forallb (fun s => forallb (fun r => forallb (fun e => forallb (fun a => forallb (fun z =>
    implb (p s AGrant e && p s Send e && p r Receive e && p s a z) (p r a z) &&
    implb (p s AGrantReply e && p s Send e && p r Receive e && p r a z) (p s a z) &&
    implb (p s AGrant e && p s Send e && p r Receive e && p r a z) (p s a z))
    L) all_authk) L) L) L.

Lemma polb_labs : forall tbl x a y,
  polb tbl x a y = true -> x <> y -> In x (labs tbl) /\ In y (labs tbl).
Proof.
  unfold polb; intros tbl x a y H Hne.
  apply orb_true_iff in H; destruct H as [H|H]; [apply Nat.eqb_eq in H; contradiction|].
  apply existsb_exists in H; destruct H as [[[x' a'] y'] [Hin Ht]].
  unfold tri_eqb in Ht; bool_hyps; subst.
  unfold labs; split; apply in_flat_map; exists (x', a', y'); simpl; auto.
Qed.

Lemma polb_refl : forall tbl x a, polb tbl x a x = true.
Proof. intros; unfold polb; rewrite Nat.eqb_refl; auto. Qed.

Ltac forall_in H x Hx :=
  rewrite forallb_forall in H; specialize (H x Hx).

(** A label related to [x <> y] by the policy, or [x] itself, is named. *)
Lemma lab_of : forall tbl x a z,
  In x (labs tbl) -> polb tbl x a z = true -> In z (labs tbl).
Proof.
  intros tbl x a z Hx H; destruct (Nat.eq_dec x z) as [<-|Hne]; auto.
  apply (polb_labs tbl x a z H Hne).
Qed.

Lemma lab_of_r : forall tbl x a z,
  In z (labs tbl) -> polb tbl x a z = true -> In x (labs tbl).
Proof.
  intros tbl x a z Hz H; destruct (Nat.eq_dec x z) as [->|Hne]; auto.
  apply (polb_labs tbl x a z H Hne).
Qed.

(** Two distinct labels related to a third by the policy are all named. *)
Lemma three_named : forall tbl s r e a1 a2,
  polb tbl s a1 e = true -> polb tbl r a2 e = true -> s <> r ->
  In s (labs tbl) /\ In r (labs tbl) /\ In e (labs tbl).
Proof.
  intros tbl s r e a1 a2 Hs Hr Hne.
  destruct (Nat.eq_dec s e) as [Hse|Hse]; destruct (Nat.eq_dec r e) as [Hre|Hre].
  - congruence.
  - destruct (polb_labs _ _ _ _ Hr Hre); subst s; auto.
  - destruct (polb_labs _ _ _ _ Hs Hse); subst r; auto.
  - destruct (polb_labs _ _ _ _ Hs Hse); destruct (polb_labs _ _ _ _ Hr Hre); auto.
Qed.

Lemma wfb_sound : forall tbl, wfb tbl = true -> wf (pol tbl).
Proof.
  unfold wfb, pol; intros tbl H; apply andb_true_iff in H; destruct H as [Hc Hgr].
  assert (Ctl : forall x y a z, polb tbl x Control y = true -> x <> y ->
    In z (labs tbl) ->
    (polb tbl x a z = true -> polb tbl y a z = true) /\
    (polb tbl y a z = true -> polb tbl x a z = true)).
  { intros x y a z Hxy Hne Hz.
    destruct (polb_labs _ _ _ _ Hxy Hne) as [Hx Hy].
    forall_in Hc x Hx; forall_in Hc y Hy; forall_in Hc a (all_authk_in a); forall_in Hc z Hz.
    rewrite Hxy in Hc; simpl in Hc; apply andb_true_iff in Hc; destruct Hc as [C1 C2].
    split; intros Hp; [rewrite Hp in C1|rewrite Hp in C2]; auto. }
  constructor.
  - intros; apply polb_refl.
  - intros x y a z Hxy Hxz; destruct (Nat.eq_dec x y) as [<-|Hne]; auto.
    destruct (polb_labs _ _ _ _ Hxy Hne) as [Hx _].
    apply (Ctl x y a z Hxy Hne (lab_of _ _ _ _ Hx Hxz)); auto.
  - intros x y a z Hxy Hyz; destruct (Nat.eq_dec x y) as [<-|Hne]; auto.
    destruct (polb_labs _ _ _ _ Hxy Hne) as [_ Hy].
    apply (Ctl x y a z Hxy Hne (lab_of _ _ _ _ Hy Hyz)); auto.
  - intros s r e a z Hg Hs Hr Hz; destruct (Nat.eq_dec s r) as [<-|Hne]; auto.
    destruct (three_named _ _ _ _ _ _ Hg Hr Hne) as [Hsl [Hrl Hel]].
    forall_in Hgr s Hsl; forall_in Hgr r Hrl; forall_in Hgr e Hel;
      forall_in Hgr a (all_authk_in a); forall_in Hgr z (lab_of _ _ _ _ Hsl Hz).
    rewrite Hg, Hs, Hr, Hz in Hgr; simpl in Hgr.
    repeat rewrite andb_true_iff in Hgr; destruct Hgr as [[G1 _] _]; auto.
  - intros c s e a z Hg Hs Hr Hz; destruct (Nat.eq_dec c s) as [<-|Hne]; auto.
    destruct (three_named _ _ _ _ _ _ Hg Hr Hne) as [Hcl [Hsl Hel]].
    forall_in Hgr c Hcl; forall_in Hgr s Hsl; forall_in Hgr e Hel;
      forall_in Hgr a (all_authk_in a); forall_in Hgr z (lab_of _ _ _ _ Hsl Hz).
    rewrite Hg, Hs, Hr, Hz in Hgr; simpl in Hgr.
    repeat rewrite andb_true_iff in Hgr; destruct Hgr as [[_ G2] _]; auto.
  - intros c s e a z Hg Hs Hr Hz; destruct (Nat.eq_dec c s) as [<-|Hne]; auto.
    destruct (three_named _ _ _ _ _ _ Hg Hr Hne) as [Hcl [Hsl Hel]].
    forall_in Hgr c Hcl; forall_in Hgr s Hsl; forall_in Hgr e Hel;
      forall_in Hgr a (all_authk_in a); forall_in Hgr z (lab_of _ _ _ _ Hsl Hz).
    rewrite Hg, Hs, Hr, Hz in Hgr; simpl in Hgr.
    repeat rewrite andb_true_iff in Hgr; destruct Hgr as [_ G3]; auto.
Qed.

(** A decision procedure for [within] against a table policy. *)
Definition withinb (tbl : list (nat * authk * nat)) (st : kstate) : bool :=
  let l := klbl st in
  forallb (fun e => forallb (fun a =>
      implb (match c_type (e_cap e) with
             | EndpointObj | NotificationObj =>
                 match a with
                 | Receive => r_read (c_rights (e_cap e))
                 | Send => r_write (c_rights (e_cap e))
                 | AGrant => r_grant (c_rights (e_cap e))
                 | AGrantReply => r_grant_reply (c_rights (e_cap e))
                 | _ => false
                 end
             | FrameObj =>
                 match a with
                 | ARead => r_read (c_rights (e_cap e))
                 | AWrite => r_write (c_rights (e_cap e))
                 | _ => false
                 end
             | _ => match a with Control => true | _ => false end
             end)
            (polb tbl (l (fst (e_slot e))) a (l (c_obj (e_cap e))))) all_authk) (kctes st) &&
  forallb (fun m => polb tbl (l (m_vs m)) ARead (l (m_frame m)) &&
                    implb (m_write m) (polb tbl (l (m_vs m)) AWrite (l (m_frame m)))) (kmaps st) &&
  forallb (fun b => polb tbl (l (fst b)) Control (l (snd b))) (kbind st) &&
  forallb (fun e => forallb (fun i =>
      implb (otype_eqb (c_type (e_cap e)) IoSpaceControlObj && otype_eqb (o_type i) IoSpaceObj
             && match o_parent i with Some p => p =? c_obj (e_cap e) | None => false end)
            (polb tbl (l (fst (e_slot e))) Control (l (o_id i)))) (kobjs st)) (kctes st).

Lemma withinb_sound : forall tbl st, withinb tbl st = true -> within st (pol tbl).
Proof.
  unfold withinb, pol; intros tbl st H.
  apply andb_true_iff in H; destruct H as [H Hi].
  apply andb_true_iff in H; destruct H as [H Hb]; apply andb_true_iff in H; destruct H as [Hc Hm].
  apply within_iff; split; [|split; [|split]].
  - intros e He a Ha; rewrite forallb_forall in Hc; specialize (Hc e He).
    rewrite forallb_forall in Hc; specialize (Hc a (all_authk_in a)).
    unfold cap_auth in Ha.
    destruct (c_type (e_cap e)); simpl in Hc;
      repeat match goal with
      | H : _ \/ _ |- _ => destruct H
      | H : _ /\ _ |- _ => destruct H
      end; subst a;
      repeat match goal with H : ?b = true, H1 : context [?b] |- _ => rewrite H in H1 end;
      auto.
  - intros m Hm'; rewrite forallb_forall in Hm; specialize (Hm m Hm').
    apply andb_true_iff in Hm; destruct Hm as [M1 M2].
    split; auto; intros Hw; rewrite Hw in M2; auto.
  - intros b Hb'; rewrite forallb_forall in Hb; auto.
  - intros e i He Hi' [T1 [T2 P]]; rewrite forallb_forall in Hi; specialize (Hi e He).
    rewrite forallb_forall in Hi; specialize (Hi i Hi').
    rewrite T1, T2, P, Nat.eqb_refl in Hi; auto.
Qed.
