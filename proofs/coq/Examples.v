(** * Executable examples: the operations do what they should

    A concrete run of the model, checked by computation, so that the
    theorems are not vacuous (operations do succeed and have effect).
    Three domains: domain 0 (root server, CNode 1), domain 1 (CNode 2),
    domain 2 (CNode 3); 4096 bytes of untyped memory. *)

From Coq Require Import List Arith Bool.
Import ListNotations.
From Tileos Require Import Model.

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
