(** * Executable examples: the operations do what they should

    A concrete run of the model, checked by computation, so that the
    theorems are not vacuous (operations do succeed and have effect).
    Three domains: domain 0 (root server, CNode 1), domain 1 (CNode 2),
    domain 2 (CNode 3); 4096 bytes of untyped memory. *)

From Coq Require Import List Arith Bool.
Import ListNotations.
From Tileos Require Import Model.
From Tileos Require Mapping.

Definition own (cn : nat) : nat := cn - 1.
Definition st0 : state := init own 4096 3.

Definition cap_at (st : state) (s : slot) : option (nat * otype * nat) :=
  option_map (fun e => (c_obj (e_cap e), c_type (e_cap e), c_badge (e_cap e)))
             (lookup (ctes st) s).

Definition ro : rights := mkRights true false false false.

(** Root retypes its untyped into two endpoints (objects 4 and 5). *)
Definition st1 := step_or_stay st0 (Retype 0 (1, 0) EndpointObj 16 [(1, 4); (1, 5)]).
Example ex_retype : cap_at st1 (1, 4) = Some (4, EndpointObj, 0) /\
                    cap_at st1 (1, 5) = Some (5, EndpointObj, 0) /\
                    map o_base (filter (fun o => 4 <=? o_id o) (objs st1)) = [16; 0].
Proof. vm_compute; auto. Qed.

(** A second retype fails: the untyped now has children. *)
Example ex_retype_children : step st1 (Retype 0 (1, 0) EndpointObj 16 [(1, 9)]) = None.
Proof. vm_compute; reflexivity. Qed.

(** Retype into a CNode is refused (static CSpace layout). *)
Example ex_retype_cnode : step st0 (Retype 0 (1, 0) CNodeObj 16 [(1, 9)]) = None.
Proof. vm_compute; reflexivity. Qed.

(** Root pushes the full endpoint capability into domain 1's CNode. *)
Definition st2 := step_or_stay st1 (Push 0 (1, 2) (1, 4) (2, 0)).
Example ex_push : cap_at st2 (2, 0) = Some (4, EndpointObj, 0).
Proof. vm_compute; reflexivity. Qed.

(** Root mints a badged, read-only copy and pushes it to domain 2. *)
Definition st3 := step_or_stay st2 (Mint 0 (1, 4) (1, 6) ro 7).
Definition st4 := step_or_stay st3 (Push 0 (1, 3) (1, 6) (3, 0)).
Example ex_mint_push : cap_at st4 (3, 0) = Some (4, EndpointObj, 7).
Proof. vm_compute; reflexivity. Qed.

(** Minting more rights than the source has fails. *)
Example ex_mint_grow : step st4 (Mint 2 (3, 0) (3, 5) all_rights 0) = None.
Proof. vm_compute; reflexivity. Qed.

(** Re-badging a badged capability fails. *)
Example ex_mint_rebadge : step st4 (Mint 2 (3, 0) (3, 5) ro 9) = None.
Proof. vm_compute; reflexivity. Qed.

(** Domain 2 cannot send capabilities: its endpoint capability lacks grant. *)
Example ex_grant_denied : step st4 (Grant 2 (3, 0) (3, 0) (2, 0) (2, 1)) = None.
Proof. vm_compute; reflexivity. Qed.

(** Domain 1 sends its endpoint capability to domain 2 (which can receive). *)
Definition st5 := step_or_stay st4 (Grant 1 (2, 0) (2, 0) (3, 0) (3, 1)).
Example ex_grant : cap_at st5 (3, 1) = Some (4, EndpointObj, 0).
Proof. vm_compute; reflexivity. Qed.

(** A domain cannot copy out of another domain's CNode. *)
Example ex_copy_foreign : step st5 (Copy 2 (2, 0) (3, 7)) = None.
Proof. vm_compute; reflexivity. Qed.

(** Revoking root's endpoint capability removes every derived capability,
    in every domain, and keeps the revoked one. *)
Definition st6 := step_or_stay st5 (Revoke 0 (1, 4)).
Example ex_revoke : cap_at st6 (2, 0) = None /\ cap_at st6 (3, 0) = None /\
                    cap_at st6 (3, 1) = None /\ cap_at st6 (1, 6) = None /\
                    cap_at st6 (1, 4) = Some (4, EndpointObj, 0).
Proof. vm_compute; auto. Qed.

(** Deleting the last capability to endpoint 5 destroys the object. *)
Definition st7 := step_or_stay st6 (Delete 0 (1, 5)).
Example ex_delete_gc : existsb (fun o => o_id o =? 5) (objs st7) = false /\
                       existsb (fun o => o_id o =? 4) (objs st7) = true.
Proof. vm_compute; auto. Qed.

(** Revoking the untyped capability destroys everything retyped from it;
    the untyped can then be retyped again from its start. *)
Definition st8 := step_or_stay st7 (Revoke 0 (1, 0)).
Definition st9 := step_or_stay st8 (Retype 0 (1, 0) FrameObj 4096 [(1, 4)]).
Example ex_reuse : cap_at st9 (1, 4) = Some (6, FrameObj, 0) /\
                   map o_base (filter (fun o => 4 <=? o_id o) (objs st9)) = [0].
Proof. vm_compute; auto. Qed.

(** ** Mapping state (Mapping.v): the attack of issue 11, item 2

    Six slots. A root (ASID 1) in slot 0, a page table (object 1) in slot
    1, a frame (object 2) in slot 2. The table is entered at index 5 of the
    root and the frame at index 3 of the table; the table is unmapped and
    entered again at index 7; the frame is deleted; a new structure (the
    "forged directory", object 3) is entered at index 8. *)
Module MappingExamples.
Import Mapping.

Definition attack : list mop :=
  [RetypeRoot 0 1; RetypeTable 1; RetypeFrame 2 true;
   MapTable 1 0 [] 5; MapFrame 2 0 [5] 3;
   UnmapTable 1; MapTable 1 0 [] 7;
   Delete 2; RetypeTable 3; MapTable 3 0 [] 8].

Definition before_unmap := mrun (minit 6) (firstn 5 attack).
Definition after := mrun (minit 6) attack.

(** Before the unmap the frame is reached at (ASID 1, [5], 3). *)
Example ex_frame_mapped :
  walk (ents before_unmap) 0 [5] = Some 1 /\ ents before_unmap 1 3 = EFrame 2 /\
  caps before_unmap 2 = Some (KFrame 2 true (Some (1, [5], 3))).
Proof. vm_compute; auto. Qed.

(** Every step succeeded, and the moved table came back empty: no entry
    for the deleted frame is reachable, and none is left in the table. *)
Example ex_attack_defeated :
  caps after 1 = Some (KTable 1 (Some (1, [], 7))) /\
  caps after 3 = Some (KTable 3 (Some (1, [], 8))) /\
  caps after 2 = None /\
  walk (ents after) 0 [7] = Some 1 /\ ents after 1 3 = Empty /\
  walk (ents after) 0 [5] = None.
Proof. vm_compute; auto 8. Qed.

(** The witness: the invariant holds in this concrete state. *)
Example ex_attack_inv : Inv after.
Proof. apply minv_run, minit_inv. Qed.

(** The state the unpatched kernel reached: the moved table still maps the
    deleted frame. The invariant rules it out. *)
Definition stale : mstate :=
  mkM (upd_e (ents after) 1 3 (EFrame 2)) (roots after) (caps after) (nslots after) (next after).

Example ex_stale_not_inv : ~ Inv stale.
Proof.
  intros I.
  assert (R : reach stale 1 [7] 1) by (exists 0; vm_compute; auto).
  destruct (i_frames _ I _ _ _ 3 2 R ltac:(vm_compute; reflexivity)) as [k [w H]].
  do 6 (destruct k as [|k]; [vm_compute in H; discriminate|]).
  vm_compute in H; discriminate.
Qed.

(** Only the last capability to a mapped table may unmap it. *)
Example ex_unmap_needs_last_cap :
  mstep (mstep_or_stay after (Copy 1 4)) (UnmapTable 1) = None.
Proof. vm_compute; reflexivity. Qed.

(** A frame is never entered over another frame's entry; an unmapped table
    cannot be copied. *)
Example ex_refusals :
  mstep (mstep_or_stay before_unmap (RetypeFrame 4 false)) (MapFrame 4 0 [5] 3) = None /\
  mstep (mstep_or_stay (minit 6) (RetypeTable 0)) (Copy 0 1) = None.
Proof. vm_compute; auto. Qed.

End MappingExamples.
