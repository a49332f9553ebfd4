(** * The CDT invariant of the kernel model ([Kernel.v])

    What theorems 1 (rights) and 5 (badges) need on [Kernel.v]: node names
    are fresh (below [knext_node]), and every capability relates to every
    present capability that has its node or is recorded among its
    ancestors ([kabove]) by [kcap_ok]: no more rights, and the same badge
    when the ancestor names the same object with a non-zero badge; and the
    ancestor lists are closed (entries with one node have one ancestor
    list, and a recorded ancestor's ancestors are recorded too), which
    theorem 2 needs. Proved at boot ([kinit_inv]), preserved by every operation
    ([kstep_inv]) and so by every trace ([krun_inv]). Node names are not
    assumed unique: an entry sharing a node with another is related to it
    both ways, which is all the proofs need. *)

From Coq Require Import List Arith Bool Lia.
Import ListNotations.
From Tileos Require Import Model Invariants Kernel Authority.

(** [y] has [x]'s node or is recorded among [x]'s CDT ancestors. *)
Definition kabove (x y : cte) : Prop := e_node y = e_node x \/ In (e_node y) (e_anc x).

(** Capability [c] may sit below capability [p] in the CDT. *)
Definition kcap_ok (c p : cap) : Prop :=
  rsub (c_rights c) (c_rights p) /\
  (c_obj c = c_obj p -> c_badge p <> 0 -> c_badge c = c_badge p).

(** The invariant over a slot list [l] and the next node name [nn]. *)
Definition kcdt_ok (l : list cte) (nn : nat) : Prop :=
  (forall e, In e l -> e_node e < nn /\ forall a, In a (e_anc e) -> a < nn) /\
  (forall x y, In x l -> In y l -> kabove x y -> kcap_ok (e_cap x) (e_cap y)) /\
  (forall x y, In x l -> In y l ->
     (e_node y = e_node x -> e_anc y = e_anc x) /\
     (In (e_node y) (e_anc x) -> incl (e_anc y) (e_anc x))).

(** The invariant of a kernel-model state. *)
Definition KInv (st : kstate) : Prop := kcdt_ok (kctes st) (knext_node st).

(** ** Structural lemmas *)

(** Entries that each copy an old entry's node, ancestors and capability. *)
Lemma kcdt_proj : forall l l' nn,
  kcdt_ok l nn ->
  (forall e', In e' l' -> exists e, In e l /\ e_node e = e_node e' /\
                                  e_anc e = e_anc e' /\ e_cap e = e_cap e') ->
  kcdt_ok l' nn.
Proof.
  intros l l' nn [Hf [Hk Hc]] Hw; split; [|split].
  - intros e' He'; destruct (Hw e' He') as [e [He [E1 [E2 _]]]].
    rewrite <- E1, <- E2; auto.
  - intros x' y' Hx' Hy' Ha.
    destruct (Hw x' Hx') as [x [Hx [Ex1 [Ex2 Ex3]]]].
    destruct (Hw y' Hy') as [y [Hy [Ey1 [Ey2 Ey3]]]].
    rewrite <- Ex3, <- Ey3; apply Hk; auto.
    unfold kabove in *; rewrite Ex1, Ex2, Ey1; auto.
  - intros x' y' Hx' Hy'.
    destruct (Hw x' Hx') as [x [Hx [Ex1 [Ex2 _]]]].
    destruct (Hw y' Hy') as [y [Hy [Ey1 [Ey2 _]]]].
    rewrite <- Ex1, <- Ex2, <- Ey1, <- Ey2; apply Hc; auto.
Qed.

Lemma kcdt_incl : forall l l' nn, kcdt_ok l nn -> incl l' l -> kcdt_ok l' nn.
Proof.
  intros l l' nn H Hi; apply (kcdt_proj l); auto.
  intros e' He'; exists e'; auto.
Qed.

(** A new CDT child [c] of the present entry [p] under the fresh node [nn]:
    no more rights than [p], and [p]'s object with [p]'s non-zero badge, or
    an object no present capability names. *)
Lemma kcdt_insert : forall l nn p dst c,
  kcdt_ok l nn -> In p l -> rsub (c_rights c) (c_rights (e_cap p)) ->
  ((c_obj c = c_obj (e_cap p) /\ (c_badge (e_cap p) <> 0 -> c_badge c = c_badge (e_cap p)))
   \/ (forall q, In q l -> c_obj (e_cap q) <> c_obj c)) ->
  kcdt_ok (mkCte dst c nn (e_node p :: e_anc p) :: l) (S nn).
Proof.
  intros l nn p dst c [Hf [Hk Hc0]] Hp Hr Hb.
  assert (Hnew : forall y, In y l -> e_node y <> nn /\ ~ In nn (e_anc y)).
  { intros y Hy; destruct (Hf y Hy) as [H1 H2]; split; [lia|].
    intros Hin; specialize (H2 _ Hin); lia. }
  split; [|split].
  - intros e [<-|He]; simpl.
    + destruct (Hf p Hp) as [H1 H2]; split; [lia|].
      intros a [<-|Ha]; [lia|]; specialize (H2 a Ha); lia.
    + destruct (Hf e He) as [H1 H2]; split; [lia|]; intros a Ha; specialize (H2 a Ha); lia.
  - intros x y [<-|Hx] [<-|Hy] Ha; unfold kabove in Ha; simpl in *.
    + split; [apply rsub_refl|auto].
    + assert (Hpy : kabove p y).
      { destruct Ha as [Ha|[Ha|Ha]]; [destruct (Hnew y Hy); congruence|left|right]; auto. }
      destruct (Hk p y Hp Hy Hpy) as [R B]; split; [apply (rsub_trans _ _ _ Hr R)|].
      intros Ho Hy0; destruct Hb as [[Hc Hcb]|Hq].
      * rewrite Hc in Ho; assert (Bp := B Ho Hy0); rewrite <- Bp in Hy0 |- *; auto.
      * exfalso; apply (Hq y Hy); auto.
    + exfalso; destruct (Hnew x Hx) as [N1 N2]; destruct Ha; auto.
    + apply Hk; auto.
  - intros x y [<-|Hx] [<-|Hy]; simpl.
    + split; auto; intros Hin; exfalso; destruct Hin as [Hin|Hin].
      * destruct (Hf p Hp); lia.
      * destruct (Hf p Hp) as [_ H2]; specialize (H2 _ Hin); lia.
    + split.
      * intros E; destruct (Hnew y Hy); congruence.
      * intros [E|Hin]; intros a Ha.
        -- destruct (Hc0 p y Hp Hy) as [C1 _]; rewrite (C1 (eq_sym E)) in Ha; right; auto.
        -- destruct (Hc0 p y Hp Hy) as [_ C2]; right; apply C2; auto.
    + split.
      * intros E; destruct (Hnew x Hx); congruence.
      * intros Hin; destruct (Hnew x Hx); contradiction.
    + apply Hc0; auto.
Qed.

(** Reclamation only removes entries and keeps the node counter. *)
Lemma collect_kinv : forall st, KInv st -> KInv (collect st).
Proof.
  intros st; unfold collect; generalize (2 * S (length (kobjs st))).
  intros n; revert st; induction n as [|n IH]; simpl; auto.
  intros st H; apply IH.
  destruct (collect_pass_sub st) as [_ [C _]].
  unfold KInv in *; apply (kcdt_incl _ _ _ H C).
Qed.

Lemma derive_badge : forall c r b c',
  derive c r b = Some c' -> c_badge c <> 0 -> c_badge c' = c_badge c.
Proof.
  unfold derive; intros c r b c' H Hb.
  destruct (c_type c); try discriminate; try (inversion H; subst; reflexivity);
    destruct (b =? 0); try (inversion H; subst; reflexivity);
    apply Nat.eqb_neq in Hb; rewrite Hb in H; discriminate.
Qed.

Lemma kinsert_kinv : forall st p dst c,
  KInv st -> In p (kctes st) -> rsub (c_rights c) (c_rights (e_cap p)) ->
  c_obj c = c_obj (e_cap p) -> (c_badge (e_cap p) <> 0 -> c_badge c = c_badge (e_cap p)) ->
  KInv (kinsert st p dst c).
Proof.
  intros st p dst c H Hp Hr Ho Hb; unfold KInv, kinsert; simpl.
  apply kcdt_insert; auto.
Qed.

Lemma kcreate_kinv : forall st t x u ty size d st',
  KInv st -> In x (kctes st) -> kcreate st t x u ty size d = Some st' ->
  KInv st' /\ incl (kctes st) (kctes st').
Proof.
  unfold kcreate; intros st t x u ty size d st' H Hx E.
  destruct (usable st t d && kempty st d && (roundup (kwm st (o_id u)) size + size <=? o_size u)
            && unused st (knext_obj st)) eqn:C; try discriminate.
  inversion E; subst st'; clear E.
  repeat rewrite andb_true_iff in C; destruct C as [_ U].
  destruct (unused_spec _ _ U) as [_ [Uc _]].
  split; [|intros e He; simpl; auto].
  unfold KInv; simpl; apply kcdt_insert; auto; [apply rsub_refl|].
  right; intros q Hq; simpl; apply (Uc q Hq).
Qed.

Lemma kretype_kinv : forall ds st t x u ty size st',
  KInv st -> In x (kctes st) -> kretype_loop st t x u ty size ds = Some st' -> KInv st'.
Proof.
  induction ds as [|d ds IH]; simpl; intros st t x u ty size st' H Hx E.
  - inversion E; subst; auto.
  - destruct (kcreate st t x u ty size d) as [s1|] eqn:C; try discriminate.
    destruct (kcreate_kinv _ _ _ _ _ _ _ _ H Hx C) as [H1 I1].
    apply (IH s1 t x u ty size st'); auto.
Qed.

(** An IPC transfer leaves the state, or inserts a CDT child derived
    ([derive], no mint) from a present capability. *)
Lemma transfer_shape : forall st t ep src t2 ep2 dst ok grant unwrap st',
  transfer st t ep src t2 ep2 dst ok grant unwrap = Some st' ->
  st' = st \/
  exists z d, In z (kctes st) /\ derive (e_cap z) all_rights 0 = Some d /\ st' = kinsert st z dst d.
Proof.
  unfold transfer; intros st t ep src t2 ep2 dst ok grant unwrap st' E.
  destruct (usable st t ep && usable st t2 ep2); try discriminate.
  destruct (is_type st ep EndpointObj), (is_type st ep2 EndpointObj); try discriminate.
  match type of E with (if ?b then _ else _) = _ => destruct b end; try discriminate.
  match type of E with (if ?b then _ else _) = _ => destruct b end;
    inversion E; subst; clear E; auto.
  unfold transfer_cap.
  destruct (lookup (kctes st) src) as [z|] eqn:L; auto.
  destruct (unwraps _ (e_cap z)); auto.
  destruct (derive (e_cap z) all_rights 0) as [d|] eqn:D; auto.
  right; exists z, d; repeat split; auto; apply (lookup_some _ _ _ L).
Qed.

Lemma transfer_kinv : forall st t ep src t2 ep2 dst ok grant unwrap st',
  KInv st -> transfer st t ep src t2 ep2 dst ok grant unwrap = Some st' -> KInv st'.
Proof.
  intros st t ep src t2 ep2 dst ok grant unwrap st' H E.
  destruct (transfer_shape _ _ _ _ _ _ _ _ _ _ _ E) as [->|[z [d [Hz [D ->]]]]]; auto.
  destruct (derive_some _ _ _ _ D) as [O [_ R]].
  apply kinsert_kinv; auto; intros Hb; apply (derive_badge _ _ _ _ D Hb).
Qed.

(** Binding a CSpace root deletes the TCB root slot's capability and
    inserts a copy of a present CNode capability. *)
Lemma kbind_root_kinv : forall st tid cn, KInv st -> KInv (kbind_root st tid cn).
Proof.
  intros st tid cn H; unfold kbind_root.
  set (st0 := collect (set_kctes st (remove_slot (tcb_root_slot tid) (kctes st)))).
  assert (H0 : KInv st0).
  { apply collect_kinv; unfold KInv; simpl; apply (kcdt_incl (kctes st)); auto.
    intros e He; unfold remove_slot in He; apply filter_In in He; tauto. }
  destruct (lookup _ cn) as [y|] eqn:Ly; [|exact H0].
  destruct (otype_eqb (c_type (e_cap y)) CNodeObj); [|exact H0].
  destruct (lookup_some _ _ _ Ly) as [Hy _].
  apply kinsert_kinv; auto using rsub_refl.
Qed.

(** Copy and mint insert a capability derived from a present one. *)
Lemma derive_into_kinv : forall st t src dst r b st',
  KInv st -> derive_into st t src dst r b = Some st' -> KInv st'.
Proof.
  unfold derive_into; intros st t src dst r b st' H E.
  destruct (usable st t src && usable st t dst && kempty st dst); try discriminate.
  destruct (lookup (kctes st) src) as [x|] eqn:L; try discriminate.
  destruct (derive (e_cap x) r b) as [c|] eqn:D; try discriminate.
  inversion E; subst; destruct (lookup_some _ _ _ L) as [Hx _].
  destruct (derive_some _ _ _ _ D) as [O [_ R]].
  apply kinsert_kinv; auto; intros Hb; apply (derive_badge _ _ _ _ D Hb).
Qed.

(** A property kept by every successful step holds after every trace. *)
Lemma krun_pres : forall (P : kstate -> Prop),
  (forall st o st', P st -> kstep st o = Some st' -> P st') ->
  forall ops st, P st -> P (krun st ops).
Proof.
  intros P Hs ops; induction ops as [|o ops IH]; simpl; auto.
  intros st H; apply IH; unfold kstep_or_stay.
  destruct (kstep st o) eqn:E; auto; apply (Hs st o); auto.
Qed.

(** ** Preservation *)

(** Entries that each copy an old entry's node, ancestors, and its
    capability's rights, object and badge (a zombie replacing a capability). *)
Lemma kcdt_proj_rob : forall l l' nn,
  kcdt_ok l nn ->
  (forall e', In e' l' -> exists e, In e l /\ e_node e = e_node e' /\ e_anc e = e_anc e' /\
     c_rights (e_cap e) = c_rights (e_cap e') /\ c_obj (e_cap e) = c_obj (e_cap e') /\
     c_badge (e_cap e) = c_badge (e_cap e')) ->
  kcdt_ok l' nn.
Proof.
  intros l l' nn [Hf [Hk Hc]] Hw; split; [|split].
  - intros e' He'; destruct (Hw e' He') as [e [He [E1 [E2 _]]]].
    rewrite <- E1, <- E2; auto.
  - intros x' y' Hx' Hy' Ha.
    destruct (Hw x' Hx') as [x [Hx [Ex1 [Ex2 [Ex3 [Ex4 Ex5]]]]]].
    destruct (Hw y' Hy') as [y [Hy [Ey1 [Ey2 [Ey3 [Ey4 Ey5]]]]]].
    assert (K : kcap_ok (e_cap x) (e_cap y)) by (apply Hk; auto; unfold kabove in *; rewrite Ex1, Ex2, Ey1; auto).
    unfold kcap_ok in *; rewrite <- Ex3, <- Ex4, <- Ex5, <- Ey3, <- Ey4, <- Ey5; auto.
  - intros x' y' Hx' Hy'.
    destruct (Hw x' Hx') as [x [Hx [Ex1 [Ex2 _]]]].
    destruct (Hw y' Hy') as [y [Hy [Ey1 [Ey2 _]]]].
    rewrite <- Ex1, <- Ex2, <- Ey1, <- Ey2; apply Hc; auto.
Qed.

Lemma kdel_kinv : forall st s, KInv st -> KInv (kdel st s).
Proof.
  intros st s H; unfold kdel; apply collect_kinv; unfold KInv; simpl;
    apply (kcdt_incl (kctes st)); auto.
  intros e He; apply (remove_in s); auto.
Qed.

(** A zombie gets the replaced capability's node, ancestors, rights, object
    and badge. *)
Lemma rezombie_kinv : forall st s x inner,
  KInv st -> lookup (kctes st) s = Some x -> KInv (rezombie st s x inner).
Proof.
  intros st s x inner H L; destruct (lookup_some _ _ _ L) as [Hx _].
  unfold KInv, rezombie; simpl; apply (kcdt_proj_rob (kctes st)); auto.
  intros e' [<-|He']; [exists x; simpl; auto 7|].
  exists e'; repeat split; auto; apply (remove_in s); auto.
Qed.

Lemma kunit_in_kinv : forall fuel st s x st',
  KInv st -> kunit_in fuel st s x = Some st' -> KInv st'.
Proof.
  intros fuel; induction fuel as [|f IH]; intros st s x st' Hi H; simpl in H;
    (destruct (has_child (kobjs st) (c_obj (e_cap x))); [discriminate|]);
    (destruct (kwm st (c_obj (e_cap x))) as [|r]; [inversion H; subst; apply kdel_kinv; auto|]);
    (destruct (slot_eqb _ s); [inversion H; subst; exact Hi|]);
    (destruct (lookup (kctes st) (c_obj (e_cap x), r)) as [y|] eqn:Ly; [|inversion H; subst; exact Hi]);
    (destruct (is_zombie (e_cap y));
      [destruct (is_top (e_cap y));
        [inversion H; subst; apply rezombie_kinv; auto|try discriminate; eapply IH; eauto]|]);
    (destruct (can_zombify _ _ _) as [n|]; inversion H; subst;
      [apply rezombie_kinv; auto|apply kdel_kinv; exact Hi]).
Qed.

(** One unit of deletion work ([Kernel.kunit]) keeps the invariant: it
    removes entries, changes a deletion count (not in [KInv]), or gives a
    capability's entry a zombie with the same rights, object and badge. *)
Lemma kunit_kinv : forall st s st', KInv st -> kunit st s = Some st' -> KInv st'.
Proof.
  intros st s st' H E; unfold kunit in E.
  destruct (lookup (kctes st) s) as [x|] eqn:L; [|inversion E; subst; auto].
  destruct (is_zombie (e_cap x)); [eapply kunit_in_kinv; eauto|].
  destruct (can_zombify st s x) as [n|]; inversion E; subst;
    [apply rezombie_kinv; auto|apply kdel_kinv; auto].
Qed.

Theorem kstep_inv : forall st o st', KInv st -> kstep st o = Some st' -> KInv st'.
Proof.
  intros st o st' H E; destruct o; simpl in E.
  - (* KCopy *) apply (derive_into_kinv _ _ _ _ _ _ _ H E).
  - (* KMint *) apply (derive_into_kinv _ _ _ _ _ _ _ H E).
  - (* KMove *)
    unfold relocate in E.
    destruct (usable st t src && usable st t dst && kempty st dst); try discriminate.
    destruct (lookup (kctes st) src) as [x|] eqn:L; try discriminate.
    destruct (is_zombie (e_cap x)); try discriminate.
    inversion E; subst; destruct (lookup_some _ _ _ L) as [Hx _].
    unfold KInv; simpl; apply (kcdt_proj (kctes st)); auto.
    intros e' [<-|He']; [exists x; simpl; auto|exists e'; split; auto; apply (remove_in src); auto].
  - (* KMutate *)
    unfold relocate in E.
    destruct (usable st t src && usable st t dst && kempty st dst); try discriminate.
    destruct (lookup (kctes st) src) as [x|] eqn:L; try discriminate.
    destruct (kmutate (e_cap x) data) as [c|] eqn:M; try discriminate.
    apply kmutate_some in M; subst c.
    inversion E; subst; destruct (lookup_some _ _ _ L) as [Hx _].
    unfold KInv; simpl; apply (kcdt_proj (kctes st)); auto.
    intros e' [<-|He']; [exists x; simpl; auto|exists e'; split; auto; apply (remove_in src); auto].
  - (* KRotate *)
    destruct (usable st t src && usable st t pivot && usable st t dst && negb (slot_eqb src pivot)
              && (slot_eqb dst src || kempty st dst)); try discriminate.
    destruct (lookup (kctes st) src) as [xs|] eqn:Ls; try discriminate.
    destruct (lookup (kctes st) pivot) as [xp|] eqn:Lp; try discriminate.
    destruct (is_zombie (e_cap xs) || is_zombie (e_cap xp)); try discriminate.
    inversion E; subst.
    destruct (lookup_some _ _ _ Ls) as [Hs _]; destruct (lookup_some _ _ _ Lp) as [Hp _].
    unfold KInv; simpl; apply (kcdt_proj (kctes st)); auto.
    intros e' [<-|[<-|He']]; [exists xp; simpl; auto|exists xs; simpl; auto|].
    exists e'; split; auto; apply (remove_in pivot); apply (remove_in src); auto.
  - (* KDelete *)
    destruct (usable st t s); try discriminate.
    destruct (lookup (kctes st) s); inversion E; subst; auto.
    apply collect_kinv; unfold KInv; simpl; apply (kcdt_incl (kctes st)); auto.
    intros e He; apply (remove_in s); auto.
  - (* KRevoke *)
    destruct (usable st t s); try discriminate.
    destruct (lookup (kctes st) s) as [x|]; [|inversion E; subst; auto].
    destruct (is_zombie (e_cap x)); inversion E; subst; auto.
    apply collect_kinv; unfold KInv; simpl; apply (kcdt_incl (kctes st)); auto.
    intros e He; apply filter_In in He; tauto.
  - (* KRetype *)
    destruct (usable st t ut); try discriminate.
    destruct (is_type st ut Untyped) as [x|] eqn:T; try discriminate.
    destruct (find_obj (kobjs st) (c_obj (e_cap x))) as [u|]; try discriminate.
    destruct (otype_eqb (o_type u) Untyped); try discriminate.
    destruct (retype_ok ty size (length dsts)); try discriminate.
    destruct (is_type_some _ _ _ _ T) as [Hx _].
    eapply kretype_kinv; [| |exact E]; unfold KInv in *; simpl; auto.
  - (* KSend *)
    apply (transfer_kinv _ _ _ _ _ _ _ _ _ _ _ H E).
  - (* KReply *)
    apply (transfer_kinv _ _ _ _ _ _ _ _ _ _ _ H E).
  - (* KBind *)
    destruct (usable st t tcb && usable st t cn); try discriminate.
    destruct (is_type st tcb TCBObj), (is_type st cn CNodeObj); inversion E; subst; auto.
    apply kbind_root_kinv; auto.
  - (* KMap *)
    destruct (usable st t vs && usable st t fr); try discriminate.
    destruct (is_type st vs PageTableObj), (is_type st fr FrameObj); try discriminate.
    match type of E with (if ?b then _ else _) = _ => destruct b end; inversion E; subst; auto.
  - (* KUnmap *)
    destruct (usable st t vs); try discriminate.
    destruct (is_type st vs PageTableObj); inversion E; subst; auto.
  - (* KDeleteStep *)
    destruct (usable st t s); try discriminate.
    apply (kunit_kinv st s); auto.
  - (* KRevokeStep *)
    destruct (usable st t s); try discriminate.
    destruct (lookup (kctes st) s) as [x|]; [|inversion E; subst; auto].
    destruct (is_zombie (e_cap x)); try discriminate.
    destruct (first_desc st (e_node x)) as [d|]; [apply (kunit_kinv st (e_slot d)); auto|].
    inversion E; subst; auto.
Qed.

Lemma krun_inv : forall ops st, KInv st -> KInv (krun st ops).
Proof. apply krun_pres, kstep_inv. Qed.

(** ** Boot *)

Lemma boot_uts_spec : forall us i os es, boot_uts i us = (os, es) ->
  forall e, In e es -> e_anc e = [] /\ c_rights (e_cap e) = all_rights /\
                      c_badge (e_cap e) = 0 /\ e_node e < i + length us.
Proof.
  induction us as [|[[b sz] l] us IH]; simpl; intros i os es E e He.
  - inversion E; subst; contradiction.
  - destruct (boot_uts (S i) us) as [os' es'] eqn:B; inversion E; subst; clear E.
    destruct He as [<-|He]; simpl; [repeat split; lia|].
    destruct (IH _ _ _ B e He) as [A [R [Bd N]]]; repeat split; auto; lia.
Qed.

Lemma rsub_all : forall a, rsub a all_rights.
Proof. intros a; unfold rsub; simpl; auto. Qed.

Theorem kinit_inv : forall root_lbl slots us, KInv (kinit root_lbl slots us).
Proof.
  intros root_lbl slots us; unfold kinit.
  destruct (boot_uts 2 us) as [os es] eqn:B; unfold KInv; simpl.
  assert (Hs : forall e, In e (mkCte (0, 0) (mkCap 0 CNodeObj all_rights 0) 0 [] ::
                              mkCte (0, 1) (mkCap 1 TCBObj all_rights 0) 1 [] :: es) ->
               e_anc e = [] /\ c_rights (e_cap e) = all_rights /\
               c_badge (e_cap e) = 0 /\ e_node e < S (S (length us))).
  { intros e [<-|[<-|He]]; simpl; [repeat split; lia|repeat split; lia|].
    apply (boot_uts_spec _ _ _ _ B e He). }
  split; [|split].
  - intros e He; destruct (Hs e He) as [A [_ [_ N]]]; rewrite A; split; [auto|intros a []].
  - intros x y Hx Hy _; destruct (Hs y Hy) as [_ [Ry [By _]]]; split.
    + rewrite Ry; apply rsub_all.
    + intros _ C; contradiction.
  - intros x y Hx Hy; destruct (Hs x Hx) as [Ax _]; destruct (Hs y Hy) as [Ay _].
    rewrite Ax, Ay; split; auto; intros [].
Qed.

(** Every state reached from boot satisfies the invariant. *)
Theorem kreachable_inv : forall root_lbl slots us ops,
  KInv (krun (kinit root_lbl slots us) ops).
Proof. intros; apply krun_inv, kinit_inv. Qed.
