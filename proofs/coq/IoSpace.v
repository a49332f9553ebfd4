(** * IOSpaces (VT-d DMA isolation) in the derived-authority model

    What IOSpaces change about authority (issue 18), over [Kernel.v] and
    [Authority.v]. As in the kernel ([kernel/src/cap.rs],
    [kernel/src/invoke/iospace.rs], docs/abi.md section 11.7):
    - an IOSpace control capability ([IoSpaceControlObj]) cannot be copied
      ([Kernel.derive] refuses it); it issues ([IIssue]) a capability to the
      IOSpace of one PCI function (requester ID below [io_devices]) into an
      empty slot, as a CDT child of the control capability (the kernel makes
      it a non-revocable child: its own copies are its siblings; [Kernel.v]
      makes every derived capability a child, see README.md), so revoking
      the control capability deletes every issued IOSpace capability;
    - a function has one IOSpace: the first issue creates the IOSpace object
      (its [o_base] is the requester ID, its size 0: it has no memory of its
      own; its parent is the control object; its label is the label of the
      CNode it is issued into, the domain it is issued to), a later issue
      for the same function names the same object;
    - a frame is mapped into an IOSpace ([IMap], the kernel's FrameMap with
      an IOSpace as target): the function's device may then read (and, with
      the write right, write) the frame by DMA. The mapping is a [kmap]
      whose [m_vs] is the IOSpace object, so [Authority.auth] gives the
      IOSpace's label read/write authority over the frame's label, and
      whoever holds the IOSpace capability controls that label;
    - [IUnmap] removes a mapping; deleting the last capability to the
      IOSpace (or to the frame) destroys the object and with it its
      mappings ([Kernel.collect]; [delete_last_unmaps] below).

    Not modelled: the IOSpace's page-table levels (a mapping is one
    (IOSpace, IO address) entry; the kernel's IOSpace paging structures are
    not objects here), the IOTLB and context-cache invalidation, interrupt
    remapping, DMA faults and their reporting, frame capabilities recording
    their one mapping (as for VSpaces in [Kernel.v], a mapping is not tied
    to the capability that made it: deleting a frame capability that is not
    the last one leaves the mapping), and the kernel's other checks on a
    map (alignment, IO address range, a capability already mapped).

    [istep] is [Kernel.kstep] plus these operations; the kernel cannot
    retype IOSpace or IOSpace control objects, so [istep] refuses that
    retype. Theorems: [io_confinement_step], [io_confinement_run],
    [io_confinement] (confinement as [Authority.confinement], for every
    operation of [istep]); [delete_last_unmaps], [io_unmap_frame]. *)

From Coq Require Import List Arith Bool Lia.
Import ListNotations.
From Tileos Require Import Model Invariants Kernel Authority KernelTheorems.

(** PCI requester IDs that have an IOSpace (buses 0 to 7), as
    [cap::IO_DEVICES]. *)
Definition io_devices : nat := 2048.

(** Operations: those of [Kernel.v], and the IOSpace ones, each performed
    by thread [t].
    [IIssue t ctl dst dev]: issue, through the IOSpace control capability
    at [ctl], a capability to the IOSpace of function [dev] into the empty
    slot [dst].
    [IMap t io fr iova]: map the frame of the capability at [fr] (read
    right; device-writable if it has the write right) at IO address [iova]
    of the IOSpace of the capability at [io], if nothing is mapped there.
    [IUnmap t io iova]: remove that mapping. *)
Inductive iop :=
| IK (o : kop)
| IIssue (t : nat) (ctl dst : slot) (dev : nat)
| IMap (t : nat) (io fr : slot) (iova : nat)
| IUnmap (t : nat) (io : slot) (iova : nat).

(** The live IOSpace object of function [dev], if any. *)
Definition io_of (st : kstate) (dev : nat) : option obj :=
  find (fun o => otype_eqb (o_type o) IoSpaceObj && (o_base o =? dev)) (kobjs st).

(** [IIssue]: refused unless both slots are usable by [t], [dst] is empty,
    [dev] is below [io_devices] and [ctl] holds an IOSpace control
    capability. *)
Definition io_issue (st : kstate) (t : nat) (ctl dst : slot) (dev : nat) : option kstate :=
  if usable st t ctl && usable st t dst && kempty st dst && (dev <? io_devices) then
    match is_type st ctl IoSpaceControlObj with
    | Some x =>
        let c := c_obj (e_cap x) in
        match io_of st dev with
        | Some i =>
            (* Another control object's IOSpace: the kernel has one IOSpace
               control, so this refusal has no kernel counterpart. *)
            match o_parent i with
            | Some p =>
                if p =? c then Some (kinsert st x dst (mkCap (o_id i) IoSpaceObj (c_rights (e_cap x)) 0))
                else None
            | None => None
            end
        | None =>
            if unused st (knext_obj st) then
              let n := knext_obj st in
              Some (mkK (mkObj n IoSpaceObj dev 0 (Some c) :: kobjs st)
                        (mkCte dst (mkCap n IoSpaceObj (c_rights (e_cap x)) 0) (knext_node st)
                               (e_node x :: e_anc x) :: kctes st)
                        (fun j => if j =? n then klbl st (fst dst) else klbl st j)
                        (kwm st) (kmaps st) (kbind st) (S n) (S (knext_node st)))
            else None
        end
    | None => None
    end
  else None.

(** [IMap], as [Kernel.kstep]'s [KMap] with an IOSpace as target. *)
Definition io_map (st : kstate) (t : nat) (io fr : slot) (iova : nat) : option kstate :=
  if usable st t io && usable st t fr then
    match is_type st io IoSpaceObj, is_type st fr FrameObj with
    | Some xi, Some xf =>
        let i := c_obj (e_cap xi) in
        if r_read (c_rights (e_cap xf))
           && negb (existsb (fun m => (m_vs m =? i) && (m_va m =? iova)) (kmaps st))
        then Some (mkK (kobjs st) (kctes st) (klbl st) (kwm st)
                       (mkMap i iova (c_obj (e_cap xf)) (r_write (c_rights (e_cap xf)))
                          :: kmaps st)
                       (kbind st) (knext_obj st) (knext_node st))
        else None
    | _, _ => None
    end
  else None.

(** [IUnmap], as [Kernel.kstep]'s [KUnmap]. *)
Definition io_unmap (st : kstate) (t : nat) (io : slot) (iova : nat) : option kstate :=
  if usable st t io then
    match is_type st io IoSpaceObj with
    | Some xi =>
        let i := c_obj (e_cap xi) in
        Some (mkK (kobjs st) (kctes st) (klbl st) (kwm st)
                  (filter (fun m => negb ((m_vs m =? i) && (m_va m =? iova))) (kmaps st))
                  (kbind st) (knext_obj st) (knext_node st))
    | None => None
    end
  else None.

(** The object types the kernel cannot retype. *)
Definition io_type (ty : otype) : bool :=
  otype_eqb ty IoSpaceObj || otype_eqb ty IoSpaceControlObj.

(** One step; [None] is a refusal, which leaves the state unchanged in
    [irun]. *)
Definition istep (st : kstate) (o : iop) : option kstate :=
  match o with
  | IK k =>
      match k with
      | KRetype _ _ ty _ _ => if io_type ty then None else kstep st k
      | _ => kstep st k
      end
  | IIssue t ctl dst dev => io_issue st t ctl dst dev
  | IMap t io fr iova => io_map st t io fr iova
  | IUnmap t io iova => io_unmap st t io iova
  end.

(** The state after [o], or [st] if [o] is refused. *)
Definition istep_or_stay (st : kstate) (o : iop) : kstate :=
  match istep st o with Some st' => st' | None => st end.

(** A sequence of operations. *)
Fixpoint irun (st : kstate) (ops : list iop) : kstate :=
  match ops with
  | [] => st
  | o :: os => irun (istep_or_stay st o) os
  end.

(** A boot state with IOSpace control: [kinit] plus the IOSpace control
    object (the next id, labelled [root_lbl], no memory) with its
    capability in the root CNode's slot [ctl_slot], as the kernel hands
    [iospace_control] to the root server on a machine with an IOMMU. *)
Definition kinit_io (root_lbl slots : nat) (us : list (nat * nat * nat)) (ctl_slot : nat) : kstate :=
  let st := kinit root_lbl slots us in
  let n := knext_obj st in
  mkK (mkObj n IoSpaceControlObj 0 0 None :: kobjs st)
      (mkCte (0, ctl_slot) (mkCap n IoSpaceControlObj all_rights 0) (knext_node st) [] :: kctes st)
      (fun j => if j =? n then root_lbl else klbl st j)
      (kwm st) (kmaps st) (kbind st) (S n) (S (knext_node st)).

(** ** Confinement *)

Ltac cond := match goal with
  | H : context [if ?c then _ else _] |- _ =>
      let E := fresh "E" in destruct c eqn:E; try discriminate; bool_hyps
  end.

Ltac isty := match goal with
  | H : context [match is_type ?st ?s ?ty with _ => _ end] |- _ =>
      let L := fresh "L" in let x := fresh "x" in
      destruct (is_type st s ty) as [x|] eqn:L; try discriminate;
      destruct (is_type_some _ _ _ _ L) as [? [? ?]]
  end.

Lemma io_of_some : forall st dev i,
  io_of st dev = Some i -> In i (kobjs st) /\ o_type i = IoSpaceObj.
Proof.
  unfold io_of; intros st dev i H; apply find_some in H; destruct H as [Hi Hp].
  apply andb_true_iff in Hp; destruct Hp as [T _]; apply otype_eqb_true in T; auto.
Qed.

(** An edge of a capability of [x]'s type and object in [x]'s CNode. *)
Lemma cap_edge : forall G st x a,
  within st G -> In x (kctes st) -> cap_auth (e_cap x) a ->
  G (klbl st (fst (e_slot x))) a (klbl st (c_obj (e_cap x))).
Proof. intros G st x a Hw Hx Ha; apply Hw; apply auth_cap; auto. Qed.

Lemma ctl_cap : forall c, c_type c = IoSpaceControlObj -> cap_auth c Control.
Proof. intros c T; apply cap_auth_control; rewrite T; discriminate. Qed.

Lemma io_issue_within : forall G st t ctl dst dev st',
  wf G -> within st G -> io_issue st t ctl dst dev = Some st' -> within st' G.
Proof.
  intros G st t ctl dst dev st' W Hw Hs; unfold io_issue in Hs.
  cond; isty.
  match goal with E : e_slot x = ctl |- _ => rename E into Xs end.
  match goal with E : c_type (e_cap x) = IoSpaceControlObj |- _ => rename E into Xt end.
  assert (Hxc : G (klbl st (fst ctl)) Control (klbl st (c_obj (e_cap x))))
    by (rewrite <- Xs; apply cap_edge; auto; apply ctl_cap; auto).
  assert (Fcd : flows G (klbl st (fst ctl)) (klbl st (fst dst)))
    by (apply (flow_slots G st t); auto).
  assert (Fdc : flows G (klbl st (fst dst)) (klbl st (fst ctl)))
    by (apply (flow_slots G st t); auto).
  pose proof Hw as Hw0; apply within_iff in Hw0; destruct Hw0 as [Hc [Hm [Hb Hi]]].
  destruct (io_of st dev) as [i|] eqn:Fi.
  - destruct (io_of_some _ _ _ Fi) as [Hin Hit].
    destruct (o_parent i) as [p|] eqn:Pi; try discriminate.
    destruct (p =? c_obj (e_cap x)) eqn:Pc; try discriminate; apply Nat.eqb_eq in Pc; subst p.
    inversion Hs; subst st'; clear Hs.
    apply within_iff; unfold kinsert, set_kctes; split; [|split; [|split]]; simpl; auto.
    + intros e [<-|He] a Ha; simpl; [|apply Hc; auto].
      unfold cap_auth in Ha; simpl in Ha; subst a.
      apply Fcd; rewrite <- Xs; apply Hi; auto; repeat split; auto.
    + intros e j [<-|He] Hj Hio; [destruct Hio as [T1 _]; simpl in T1; discriminate|].
      apply Hi; auto.
  - cond; inversion Hs; subst st'; clear Hs.
    match goal with U : unused _ _ = true |- _ => destruct (unused_spec _ _ U) as [No [Nc [Nm [Nb Np]]]] end.
    match goal with U : usable st t dst = true |- _ =>
      destruct (usable_bound _ _ _ U) as [_ [od [Hod Hodi]]] end.
    assert (Hdn : fst dst <> knext_obj st) by (rewrite <- Hodi; apply No; auto).
    assert (Lx : forall j, j <> knext_obj st ->
              (if j =? knext_obj st then klbl st (fst dst) else klbl st j) = klbl st j).
    { intros j Hj; apply Nat.eqb_neq in Hj; rewrite Hj; auto. }
    (* G x Control (label of dst) for every holder x of a control capability
       to the same object: through the control object, by wf *)
    assert (Hcd : G (klbl st (c_obj (e_cap x))) Control (klbl st (fst dst))).
    { apply (wf_ctl_to G W _ _ _ _ Hxc). apply Fdc; apply wf_refl; auto. }
    apply within_iff; split; [|split; [|split]]; simpl.
    + intros e [<-|He] a Ha; simpl in *.
      * unfold cap_auth in Ha; simpl in Ha; subst a.
        rewrite Lx, Nat.eqb_refl; auto; apply wf_refl; auto.
      * destruct (Nc e He); rewrite !Lx; auto.
    + intros mp Hm'; destruct (Nm mp Hm'); rewrite !Lx; auto.
    + intros b Hb'; destruct (Nb b Hb'); rewrite !Lx; auto.
    + intros e j [<-|He] [<-|Hj] [T1 [T2 P]]; simpl in *.
      * discriminate.
      * discriminate.
      * destruct (Nc e He) as [Hen Hon]; rewrite Lx, Nat.eqb_refl; auto.
        inversion P as [P']; rewrite P' in Hcd.
        apply (wf_ctl_from G W _ _ _ _ (cap_edge G st e Control Hw He (ctl_cap _ T1))); auto.
      * destruct (Nc e He); assert (Hjn : o_id j <> knext_obj st) by (apply No; auto).
        rewrite !Lx; auto; apply Hi; auto; repeat split; auto.
Qed.

Lemma io_map_within : forall G st t io fr iova st',
  wf G -> within st G -> io_map st t io fr iova = Some st' -> within st' G.
Proof.
  intros G st t io fr iova st' W Hw Hs; unfold io_map in Hs.
  cond; isty; isty; cond; inversion Hs; subst st'; clear Hs.
  apply within_iff; pose proof Hw as Hw0; apply within_iff in Hw0; destruct Hw0 as [Hc [Hm [Hb Hi]]].
  split; [|split; [|split]]; simpl; auto.
  assert (Hv : G (klbl st (fst io)) Control (klbl st (c_obj (e_cap x)))) by (edge Hc x).
  intros mp [<-|Hm']; simpl; [|apply Hm; auto].
  split; [|intros Hwr]; apply (wf_ctl_to G W _ _ _ _ Hv);
    apply (flow_slots G st t fr io); auto; edge Hc x0.
Qed.

Lemma io_unmap_within : forall G st t io iova st',
  within st G -> io_unmap st t io iova = Some st' -> within st' G.
Proof.
  intros G st t io iova st' Hw Hs; unfold io_unmap in Hs.
  cond; isty; inversion Hs; subst st'; clear Hs.
  apply (within_sub G st); simpl; auto using incl_refl.
  intros m Hm; apply filter_In in Hm; tauto.
Qed.

(** For every well-formed policy and every operation, kernel or IOSpace,
    by any thread: authority within the policy before the step is within it
    after. *)
Theorem io_confinement_step : forall G st o st',
  wf G -> within st G -> istep st o = Some st' -> within st' G.
Proof.
  intros G st o st' W Hw Hs; destruct o as [k|t ctl dst dev|t io fr iova|t io iova]; simpl in Hs.
  - destruct k; try (apply (confinement_step G st _ st' W Hw Hs)).
    destruct (io_type ty); try discriminate; apply (confinement_step G st _ st' W Hw Hs).
  - apply (io_issue_within G st t ctl dst dev); auto.
  - apply (io_map_within G st t io fr iova); auto.
  - apply (io_unmap_within G st t io iova); auto.
Qed.

Theorem io_confinement_run : forall G st ops,
  wf G -> within st G -> within (irun st ops) G.
Proof.
  intros G st ops W; revert st; induction ops as [|o ops IH]; simpl; auto.
  intros st Hw; apply IH; unfold istep_or_stay.
  destruct (istep st o) as [st'|] eqn:E; auto.
  apply (io_confinement_step G st o st'); auto.
Qed.

(** The usable form: authority the policy does not allow never appears,
    whatever any thread does with kernel and IOSpace operations. *)
Theorem io_confinement : forall G st ops x a y,
  wf G -> within st G -> ~ G x a y -> ~ auth (irun st ops) x a y.
Proof.
  intros G st ops x a y W Hw Hn Ha; apply Hn.
  apply (io_confinement_run G st ops W Hw); auto.
Qed.

(** ** Unmapping *)

Lemma collect_iter_maps : forall n st, incl (kmaps (collect_iter n st)) (kmaps st).
Proof.
  induction n as [|n IH]; simpl; intros st m Hm; auto.
  apply IH in Hm; unfold collect_pass in Hm; simpl in Hm; apply filter_In in Hm; tauto.
Qed.

(** Deleting the last capability to an object [i] (an IOSpace, or a frame)
    that has no child object and is no thread's CSpace root destroys it,
    and no mapping through it remains: the device behind an IOSpace keeps
    no DMA authority through it, and no IOSpace or VSpace keeps a frame
    whose last capability went. (The side conditions hold of IOSpaces and
    frames in the kernel: neither is an untyped nor a CNode; here they are
    hypotheses, as no reachability invariant of [istep] is proved.) *)
Theorem delete_last_unmaps : forall st t s x st',
  lookup (kctes st) s = Some x ->
  (forall e, In e (kctes st) -> e_slot e <> s -> c_obj (e_cap e) <> c_obj (e_cap x)) ->
  has_child (kobjs st) (c_obj (e_cap x)) = false ->
  is_root (kbind st) (c_obj (e_cap x)) = false ->
  istep st (IK (KDelete t s)) = Some st' ->
  forall m, In m (kmaps st') -> m_vs m <> c_obj (e_cap x) /\ m_frame m <> c_obj (e_cap x).
Proof.
  intros st t s x st' L Hlast Hch Hroot Hs m Hm; simpl in Hs.
  destruct (usable st t s); try discriminate; rewrite L in Hs; inversion Hs; subst st'; clear Hs.
  unfold collect in Hm; simpl in Hm.
  remember (set_kctes st (remove_slot s (kctes st))) as st1.
  destruct (length (kobjs st1)) as [|k]; simpl in Hm;
    apply collect_iter_maps in Hm; unfold collect_pass in Hm; simpl in Hm;
    apply filter_In in Hm; destruct Hm as [_ Ha]; apply andb_true_iff in Ha; destruct Ha as [Av Af];
    (assert (Dead : forall j, j = c_obj (e_cap x) ->
       alive (filter (fun o => has_cap (kctes st1) (o_id o) || has_child (kobjs st1) (o_id o)
                               || is_root (kbind st1) (o_id o)) (kobjs st1)) j = false);
     [intros j Hj; subst st1; unfold alive; simpl;
      apply not_true_iff_false; intros Ex; apply existsb_exists in Ex;
      destruct Ex as [o [Ho Hoj]]; apply filter_In in Ho; destruct Ho as [_ Hk];
      apply Nat.eqb_eq in Hoj; rewrite Hoj, Hj in Hk;
      rewrite Hch, Hroot in Hk; simpl in Hk; rewrite !orb_false_r in Hk;
      unfold has_cap in Hk; apply existsb_exists in Hk; destruct Hk as [e [He Heq]];
      unfold remove_slot in He; apply filter_In in He; destruct He as [He Hns];
      apply Nat.eqb_eq in Heq; apply (Hlast e He); auto;
      intros Es; rewrite Es in Hns; unfold slot_eqb in Hns;
      rewrite !Nat.eqb_refl in Hns; discriminate
     |split; intros E; [rewrite (Dead _ E) in Av|rewrite (Dead _ E) in Af]; discriminate]).
Qed.

(** [IUnmap] removes exactly the mapping at that IO address of that
    IOSpace: afterwards nothing is mapped there, and every other mapping is
    unchanged. *)
Theorem io_unmap_frame : forall st t io iova st' xi,
  is_type st io IoSpaceObj = Some xi ->
  istep st (IUnmap t io iova) = Some st' ->
  forall m, In m (kmaps st') <->
    In m (kmaps st) /\ ~ (m_vs m = c_obj (e_cap xi) /\ m_va m = iova).
Proof.
  intros st t io iova st' xi L Hs m; simpl in Hs; unfold io_unmap in Hs.
  destruct (usable st t io); try discriminate; rewrite L in Hs; inversion Hs; subst st'; simpl.
  rewrite filter_In, negb_true_iff, andb_false_iff, !Nat.eqb_neq; split.
  - intros [H1 H2]; split; auto; intros [E1 E2]; destruct H2; auto.
  - intros [H1 H2]; split; auto.
    destruct (Nat.eq_dec (m_vs m) (c_obj (e_cap xi))); [right|left]; auto.
Qed.

(** ** Issue and revoke *)

(** An issued IOSpace capability is a CDT child of the control capability
    it was issued through: it records that capability's node first among
    its ancestors. *)
Theorem io_issue_child : forall st t ctl dst dev st' x,
  lookup (kctes st) ctl = Some x ->
  istep st (IIssue t ctl dst dev) = Some st' ->
  exists e, lookup (kctes st') dst = Some e /\ c_type (e_cap e) = IoSpaceObj /\
            e_anc e = e_node x :: e_anc x.
Proof.
  intros st t ctl dst dev st' x L Hs; simpl in Hs; unfold io_issue in Hs.
  cond; unfold is_type in Hs; rewrite L in Hs.
  destruct (otype_eqb (c_type (e_cap x)) IoSpaceControlObj); try discriminate.
  assert (Hd : slot_eqb dst dst = true) by (apply slot_eqb_true; auto).
  destruct (io_of st dev) as [i|].
  - destruct (o_parent i) as [p|]; try discriminate.
    destruct (p =? c_obj (e_cap x)); try discriminate.
    inversion Hs; subst st'; unfold kinsert, set_kctes, lookup; simpl; rewrite Hd.
    eexists; split; [reflexivity|simpl; auto].
  - cond; inversion Hs; subst st'; unfold lookup; simpl; rewrite Hd.
    eexists; split; [reflexivity|simpl; auto].
Qed.

(** Revoking an IOSpace control capability (or any capability) leaves no
    capability that records it among its ancestors: with [io_issue_child],
    every IOSpace capability issued through it, and every copy of one, is
    gone ([KernelTheorems.krevoke_frame] on [istep]). *)
Theorem io_revoke_control : forall st t s x st',
  lookup (kctes st) s = Some x ->
  istep st (IK (KRevoke t s)) = Some st' ->
  forall e, In e (kctes st') -> ~ In (e_node x) (e_anc e).
Proof.
  intros st t s x st' L Hs e He; simpl in Hs.
  apply (proj1 (krevoke_frame st t s st' x Hs L e) He).
Qed.
