(** * Confinement over [KernelMap.kmstep]

    [Authority.confinement_step] is about [Kernel.kstep]. The refinement
    test runs [KernelMap.kmstep] instead ([Kernel.v]'s operations with the
    kernel's frame mappings, and frame map and unmap as the kernel does
    them, and paging-structure map and unmap). [kmconfinement_step]: for
    every well-formed policy, if the authority of the capability state
    (with its mappings) is within the policy, so is the authority after any
    [kmstep]; [kmconfinement_run] for sequences. The ASIDs, entered paging
    structures and recorded mappings of [kmstate] give no authority of
    their own ([Authority.auth] does not look at them): a paging-structure
    map leaves the capability state as it was ([KernelMap.kmap_table_auth]),
    an unmap only removes frame mappings ([KernelMap.kunmap_table_shrinks]);
    what entering a page table gives its holder is that frame maps into
    its 2 MiB can succeed ([KernelMap.kmap_frame_covered]), each still
    needing the frame's capability and adding only what [KMap] could add
    ([KernelMap.kmap_frame_auth]). *)

From Coq Require Import List Arith Bool Lia.
Import ListNotations.
From Tileos Require Import Model Invariants Kernel KernelErrors Authority KernelMap.

(** A map that succeeds is [ok_map] of the frame's entry. *)
Lemma kmap_frame_is_ok_map : forall s t fr vs va s',
  kmstep s (KMapFrame t fr vs va) = KMOk s' -> exists xf v a, ok_map s xf v a va = KMOk s'.
Proof.
  intros s t fr vs va s' H; simpl in H; unfold kmap_frame in H.
  repeat match type of H with
  | ok_map ?s ?xf ?v ?a ?va = _ => exists xf, v, a; exact H
  | context [if ?b then _ else _] => destruct b; simpl in H; try discriminate
  | context [let (_, _) := ?q in _] => destruct q; simpl in H; try discriminate
  | context [match ?x with Some _ => _ | None => _ end] =>
      let p := fresh "p" in destruct x as [p|]; [try destruct p|]; simpl in H; try discriminate
  end.
Qed.

Lemma ok_map_frame : forall s xf v a va s',
  ok_map s xf v a va = KMOk s' ->
  klbl (kms s') = klbl (kms s) /\ kobjs (kms s') = kobjs (kms s) /\ kbind (kms s') = kbind (kms s).
Proof. intros s xf v a va s' H; unfold ok_map in H; inversion H; simpl; auto. Qed.

Theorem kmconfinement_step : forall G s o s',
  wf G -> within (kms s) G -> (kmstep s o = KMOk s' \/ exists e, kmstep s o = KMFailAfter e s') ->
  within (kms s') G.
Proof.
  intros G s o s' W Hw H.
  destruct o as [o|t fr vs va|t fr|t pt vs va|t pt].
  - (* Kernel.v's operations: kstep's state with fewer mappings, answered
       success or an error after the change *)
    simpl in H; destruct (kstep_code (kms s) o) as [st'|e|e st'] eqn:E;
      [destruct (table_src s o) as [[r|]|]|..];
      destruct H as [H|[e' H]]; try discriminate; inversion H; subst s'; clear H;
      (assert (E' : kstep (kms s) o = Some st') by (apply kstep_code_ok; eauto));
      (apply (within_sub G st'); simpl; auto using incl_refl;
       [apply (confinement_step G (kms s) o st' W Hw E')
       |intros m Hm; repeat (apply filter_In in Hm; destruct Hm as [Hm _]); exact Hm]).
  - (* Frame map: the new mapping is one KMap could add *)
    destruct H as [H|[e H]]; [|simpl in H; unfold kmap_frame in H;
      repeat match type of H with
      | context [if ?b then _ else _] => destruct b; simpl in H; try discriminate
      | context [let (_, _) := ?q in _] => destruct q; simpl in H; try discriminate
      | context [match ?x with Some _ => _ | None => _ end] =>
          let p := fresh "p" in destruct x as [p|]; [try destruct p|]; simpl in H; try discriminate
      end; unfold ok_map in H; discriminate].
    destruct (kmap_frame_auth _ _ _ _ _ _ H) as [Hc Hm].
    destruct (kmap_frame_is_ok_map _ _ _ _ _ _ H) as [xf0 [v0 [a0 Hok]]].
    destruct (ok_map_frame _ _ _ _ _ _ Hok) as [Hl [Ho Hb]].
    pose proof Hw as Hw0; apply within_iff in Hw0; destruct Hw0 as [Hc0 [Hm0 [Hb0 Hi0]]].
    apply within_iff; unfold edges_ok; rewrite Hl, Hc, Hb, Ho; repeat split; auto.
    all: match goal with Hin : In ?m (kmaps _) |- _ =>
           destruct (Hm m Hin) as [Hold|[xv [xf [Lv [Lf [Uv [Uf [Tv [Tf [R Em]]]]]]]]]] end.
    all: try solve [apply (proj1 (Hm0 _ Hold)) | apply (proj2 (Hm0 _ Hold))].
    all: subst; destruct (lookup_some _ _ _ Lv) as [Iv Sv]; destruct (lookup_some _ _ _ Lf) as [If Sf].
    all: assert (Gv : G (klbl (kms s) (fst vs)) Control (klbl (kms s) (c_obj (e_cap xv))))
           by (rewrite <- Sv; apply Hc0; auto; unfold cap_auth; rewrite Tv; auto).
    all: assert (F : flows G (klbl (kms s) (fst fr)) (klbl (kms s) (fst vs)))
           by (apply (flow_slots G (kms s) t); auto).
    all: simpl; try intros Hwr; apply (wf_ctl_to G W _ _ _ _ Gv); apply F; rewrite <- Sf; apply Hc0; auto;
           unfold cap_auth; rewrite Tf; auto.
  - (* Frame unmap: fewer mappings *)
    destruct H as [H|[e H]]; [|simpl in H; unfold kunmap_frame in H;
      repeat match type of H with
      | context [if ?b then _ else _] => destruct b; simpl in H; try discriminate
      | context [match ?x with Some _ => _ | None => _ end] => destruct x; simpl in H; try discriminate
      end].
    destruct (kunmap_frame_shrinks _ _ _ _ H) as [Hc Hm].
    simpl in H; unfold kunmap_frame in H.
    destruct (usable (kms s) t fr); simpl in H; try discriminate.
    destruct (lookup (kctes (kms s)) fr) as [xf|]; try discriminate.
    destruct (otype_eqb (c_type (e_cap xf)) FrameObj); simpl in H; try discriminate.
    inversion H; subst s'; clear H.
    apply (within_sub G (kms s)); auto; rewrite ?Hc; auto using incl_refl;
      unfold unmap_rec; destruct (rec_of s (e_node xf)) as [[a va]|]; simpl; auto using incl_refl.
  - (* Paging-structure map: the capability state is unchanged *)
    destruct H as [H|[e H]]; [|simpl in H; unfold kmap_table in H;
      repeat match type of H with
      | context [if ?b then _ else _] => destruct b; simpl in H; try discriminate
      | context [match ?x with Some _ => _ | None => _ end] =>
          let p := fresh "p" in destruct x as [p|]; [try destruct p|]; simpl in H; try discriminate
      end].
    destruct (kmap_table_auth _ _ _ _ _ _ H) as [-> _]; exact Hw.
  - (* Paging-structure unmap: fewer mappings *)
    destruct H as [H|[e H]]; [|simpl in H; unfold kunmap_table in H;
      repeat match type of H with
      | context [if ?b then _ else _] => destruct b; simpl in H; try discriminate
      | context [match ?x with Some _ => _ | None => _ end] =>
          let p := fresh "p" in destruct x as [p|]; [try destruct p|]; simpl in H; try discriminate
      end].
    destruct (kunmap_table_shrinks _ _ _ _ H) as [Hc [Ho [Hb [Hl [Hm _]]]]].
    apply (within_sub G (kms s)); rewrite ?Hc, ?Ho, ?Hb, ?Hl; auto using incl_refl.
Qed.

Fixpoint kmrun (s : kmstate) (ops : list kmop) : kmstate :=
  match ops with
  | [] => s
  | o :: os => kmrun (match kmstep s o with KMOk s' | KMFailAfter _ s' => s' | KMFail _ => s end) os
  end.

Theorem kmconfinement_run : forall G ops s,
  wf G -> within (kms s) G -> within (kms (kmrun s ops)) G.
Proof.
  intros G ops; induction ops as [|o os IH]; intros s W Hw; simpl; auto.
  apply IH; auto.
  destruct (kmstep s o) eqn:E; auto; apply (kmconfinement_step G s o); eauto.
Qed.
