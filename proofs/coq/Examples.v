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

(** ** The derived-authority model ([Kernel.v], [Authority.v]) on the
    default tile's shape

    The root server (thread 1, CNode 0, label 0) builds three domains the
    way the root server builds the default tile: a console (label 1) that
    serves an endpoint, an echo server (label 2) that serves an endpoint and
    logs to the console, and a client (label 3) that calls the echo server
    and logs to the console. Each domain's memory is its own untyped region
    (labelled with the domain, as the system description assigns it). For
    each domain the root server splits the region into five untypeds,
    retypes a CNode (8 slots), a TCB, an endpoint, a frame and a VSpace,
    fills the domain's CNode (its own CNode, TCB, endpoint with the read
    right only, frame, VSpace; then the write-only endpoint capabilities it
    is granted), binds the TCB to the CNode and maps the frame. Then it
    drops every capability it made for the domains (its authority drop).
    Object ids equal the root CNode slot that first holds them. *)

From Tileos Require Import Kernel Authority.

Definition wo : rights := mkRights false true false false.

(** One domain: untyped at root slot [ut], objects from root slot [b]:
    [b .. b+4] the five child untypeds, [b+5] CNode, [b+6] TCB,
    [b+7] endpoint, [b+8] frame, [b+9] VSpace. *)
Definition build_domain (ut b : nat) : list kop :=
  let c := b + 5 in let t := b + 6 in let e := b + 7 in let f := b + 8 in let p := b + 9 in
  [KRetype 1 (0, ut) Untyped 512 [(0, b); (0, b + 1); (0, b + 2); (0, b + 3); (0, b + 4)];
   KRetype 1 (0, b) CNodeObj 512 [(0, c)];
   KRetype 1 (0, b + 1) TCBObj 4 [(0, t)];
   KRetype 1 (0, b + 2) EndpointObj 2 [(0, e)];
   KRetype 1 (0, b + 3) FrameObj 8 [(0, f)];
   KRetype 1 (0, b + 4) PageTableObj 8 [(0, p)];
   KCopy 1 (0, c) (c, 0); KCopy 1 (0, t) (c, 1); KMint 1 (0, e) (c, 2) ro 0;
   KCopy 1 (0, f) (c, 3); KCopy 1 (0, p) (c, 4);
   KBind 1 (0, t) (0, c); KMap 1 (0, p) (0, f) 1].

Definition tile_boot : kstate :=
  kinit 0 64 [(0, 4096, 0); (4096, 4096, 1); (8192, 4096, 2); (12288, 4096, 3)].

(** Console: objects 6..15 (CNode 11, TCB 12, endpoint 13); echo: 16..25
    (CNode 21, TCB 22, endpoint 23); client: 26..35 (CNode 31, TCB 32). *)
Definition tile_build : list kop :=
  build_domain 3 6 ++ build_domain 4 16 ++ build_domain 5 26 ++
  [KMint 1 (0, 13) (21, 5) wo 0;    (* echo may write to the console *)
   KMint 1 (0, 13) (31, 5) wo 0;    (* client may write to the console *)
   KMint 1 (0, 23) (31, 6) wo 0].   (* client may call echo (no grant-reply) *)

Definition tile_built : kstate := krun tile_boot tile_build.

(** The authority drop: every root capability made for the domains. *)
Definition tile_drop : list kop := map (fun i => KDelete 1 (0, i)) (seq 3 33).

Definition tile : kstate := krun tile_built tile_drop.

Definition kcap_at (st : kstate) (s : slot) : option (nat * otype * bool * bool) :=
  option_map (fun e => (c_obj (e_cap e), c_type (e_cap e),
                        r_read (c_rights (e_cap e)), r_write (c_rights (e_cap e))))
             (lookup (kctes st) s).

(** Every build step succeeded: the domains' CSpaces, bindings and
    mappings are as intended. *)
Example tile_build_ok :
  map (kcap_at tile_built) [(11, 2); (21, 5); (31, 5); (31, 6); (31, 0)] =
    [Some (13, EndpointObj, true, false); Some (13, EndpointObj, false, true);
     Some (13, EndpointObj, false, true); Some (23, EndpointObj, false, true);
     Some (31, CNodeObj, true, true)] /\
  map (root_of tile_built) [32; 22; 12; 1] = [Some 31; Some 21; Some 11; Some 0] /\
  kbind tile_built = [(1, 0)] /\
  map (fun m => (m_vs m, m_frame m)) (kmaps tile_built) = [(35, 34); (25, 24); (15, 14)].
Proof. vm_compute; auto. Qed.

(** A binding is a copy of the CNode capability in the TCB's root slot, a
    CDT child of the capability it was made from ([kbind_root]): a revoke
    of the root server's capability to the client's CNode unbinds the
    client's thread, a delete of it (the authority drop) does not. *)
Example tile_bind_revoke :
  kcap_at tile_built (32, 0) = Some (31, CNodeObj, true, true) /\
  root_of (kstep_or_stay tile_built (KRevoke 1 (0, 31))) 32 = None /\
  kcap_at (kstep_or_stay tile_built (KRevoke 1 (0, 31))) (32, 0) = None /\
  root_of tile 32 = Some 31.
Proof. vm_compute; auto. Qed.

(** Before the drop the root server controls every domain: the final
    policy below does not hold yet. *)
Example tile_built_root_controls :
  map (fun i => klbl tile_built i) [11; 21; 31] = [1; 2; 3] /\
  kcap_at tile_built (0, 21) = Some (21, CNodeObj, true, true).
Proof. vm_compute; auto. Qed.

(** After the drop the domains keep their objects (held by their own
    CNodes), the root server keeps only its CNode, TCB and its own
    untyped. *)
Example tile_dropped :
  map (kcap_at tile) [(0, 0); (0, 1); (0, 2); (0, 3); (0, 21)] =
    [Some (0, CNodeObj, true, true); Some (1, TCBObj, true, true);
     Some (2, Untyped, true, true); None; None] /\
  kcap_at tile (31, 6) = Some (23, EndpointObj, false, true) /\
  length (kobjs tile) = 36.
Proof. vm_compute; auto. Qed.

(** The policy: echo and client may send to the console, the client may
    send to echo; every label has all authority over itself. *)
Definition tile_tbl : list (nat * authk * nat) :=
  [(2, Send, 1); (3, Send, 1); (3, Send, 2)].

Lemma tile_wf : wf (pol tile_tbl).
Proof. apply wfb_sound; vm_compute; reflexivity. Qed.

(** The hypothesis of the confinement theorem holds in the built tile. *)
Lemma tile_within : within tile (pol tile_tbl).
Proof. apply withinb_sound; vm_compute; reflexivity. Qed.

(** Hence, whatever any thread does next: echo never gets any authority
    over the client's objects, the client never gets to receive on the
    console's endpoint nor control anything of echo, and no domain ever
    gets authority over the root server's objects. *)
Theorem tile_confined : forall ops a,
  ~ auth (krun tile ops) 2 a 3 /\
  ~ auth (krun tile ops) 3 Receive 1 /\
  ~ auth (krun tile ops) 3 Control 2 /\
  (forall d, d <> 0 -> ~ auth (krun tile ops) d a 0).
Proof.
  intros ops a; split; [|split; [|split]]; try intros d Hd;
    apply (confinement (pol tile_tbl) tile ops _ _ _ tile_wf tile_within);
    unfold pol, polb; simpl.
  - destruct a; vm_compute; discriminate.
  - vm_compute; discriminate.
  - vm_compute; discriminate.
  - destruct d as [|d]; [contradiction|]; destruct a; simpl;
      repeat (destruct d as [|d]; simpl; try discriminate); discriminate.
Qed.

(** A concrete sequence after boot: the client's message to echo is
    delivered without its capability (its endpoint capability has no grant
    right: nothing lands in echo's slot 7), echo's reply likewise (the
    client's capability has neither the grant nor the grant-reply right), echo
    cannot name the client's slots, while echo moves, mutates and deletes
    within its own CSpace, and a slot beyond the CNode's 8 slots is refused. *)
Example tile_after :
  option_map (fun s => kcap_at s (21, 7)) (kstep tile (KSend 32 (31, 6) (31, 3) 22 (21, 2) (21, 7)))
    = Some None /\
  option_map (fun s => kcap_at s (31, 7)) (kstep tile (KReply 22 (21, 2) (21, 3) 32 (31, 6) (31, 7)))
    = Some None /\
  kstep tile (KCopy 22 (31, 3) (21, 7)) = None /\
  kstep tile (KCopy 22 (21, 3) (21, 8)) = None /\
  kcap_at (krun tile [KMove 22 (21, 3) (21, 7); KMutate 22 (21, 5) (21, 6) 0;
                      KDelete 22 (21, 7)]) (21, 6) = Some (13, EndpointObj, false, true) /\
  kcap_at (krun tile [KMove 22 (21, 3) (21, 7); KMutate 22 (21, 5) (21, 6) 0;
                      KDelete 22 (21, 7)]) (21, 7) = None /\
  map m_frame (kmaps (krun tile [KMove 22 (21, 3) (21, 7); KDelete 22 (21, 7)])) = [34; 14].
Proof. vm_compute; repeat split; reflexivity. Qed.

(** ** A driver domain with an IOSpace ([IoSpace.v])

    Boot with an IOMMU: the root server (label 0) holds IOSpace control in
    slot 5 (object 5). It builds a driver domain (label 1, objects 6..15:
    CNode 11, TCB 12, endpoint 13, frame 14, VSpace 15) and a client
    (label 2, objects 16..25: CNode 21, TCB 22, endpoint 23, frame 24,
    VSpace 25) as above, gives the client a write-only capability to the
    driver's endpoint, issues the IOSpace of PCI function 00:04.0
    (requester ID 0x20 = 32) straight into the driver's CNode (slot 5;
    object 26, labelled as the driver's CNode), maps the driver's frame 14
    writable into it at IO address 0 (the DMA buffer), then drops every
    capability it made for the domains and its IOSpace control. *)

From Tileos Require Import IoSpace.

Definition io_boot : kstate :=
  kinit_io 0 64 [(0, 4096, 0); (4096, 4096, 1); (8192, 4096, 2)] 5.

Definition io_build : list iop :=
  map IK (build_domain 3 6 ++ build_domain 4 16 ++ [KMint 1 (0, 13) (21, 5) wo 0]) ++
  [IIssue 1 (0, 5) (11, 5) 32; IMap 1 (11, 5) (0, 14) 0].

Definition io_built : kstate := irun io_boot io_build.

Definition io_drop : list iop := map (fun i => IK (KDelete 1 (0, i))) (seq 3 23).

Definition io_tile : kstate := irun io_built io_drop.

(** Every step succeeded: the IOSpace capability in the driver's CNode is a
    CDT child of the control capability, the IOSpace object is function 32's
    with the control object as parent and the driver's label, the DMA
    buffer is mapped writable; before the drop the root server holds
    IOSpace control and controls both domains. *)
Example io_build_ok :
  kcap_at io_built (11, 5) = Some (26, IoSpaceObj, true, true) /\
  option_map (fun e => e_anc e) (lookup (kctes io_built) (11, 5)) = Some [5] /\
  find_obj (kobjs io_built) 26 = Some (mkObj 26 IoSpaceObj 32 0 (Some 5)) /\
  klbl io_built 26 = 1 /\
  map (fun m => (m_vs m, m_va m, m_frame m, m_write m)) (kmaps io_built) =
    [(26, 0, 14, true); (25, 1, 24, true); (15, 1, 14, true)] /\
  kcap_at io_built (0, 5) = Some (5, IoSpaceControlObj, true, true) /\
  kcap_at io_built (0, 11) = Some (11, CNodeObj, true, true).
Proof. vm_compute; repeat split; reflexivity. Qed.

(** After the drop: the root server keeps its CNode, TCB and own untyped;
    neither the domains' untypeds nor any IOSpace control capability are
    left; the driver keeps its IOSpace and its DMA mapping, the client its
    endpoint capability to the driver. *)
Example io_dropped :
  map (kcap_at io_tile) [(0, 0); (0, 1); (0, 2); (0, 3); (0, 4); (0, 5); (0, 11); (0, 14)] =
    [Some (0, CNodeObj, true, true); Some (1, TCBObj, true, true);
     Some (2, Untyped, true, true); None; None; None; None; None] /\
  existsb (fun e => otype_eqb (c_type (e_cap e)) IoSpaceControlObj) (kctes io_tile) = false /\
  kcap_at io_tile (11, 5) = Some (26, IoSpaceObj, true, true) /\
  kcap_at io_tile (21, 5) = Some (13, EndpointObj, false, true) /\
  map (fun m => (m_vs m, m_frame m)) (kmaps io_tile) = [(26, 14); (25, 24); (15, 14)].
Proof. vm_compute; repeat split; reflexivity. Qed.

(** The policy: the client may send to the driver; every label has all
    authority over itself. *)
Definition io_tbl : list (nat * authk * nat) := [(2, Send, 1)].

Lemma io_wf : wf (pol io_tbl).
Proof. apply wfb_sound; vm_compute; reflexivity. Qed.

(** The hypothesis of the confinement theorem holds after the drop. *)
Lemma io_within : within io_tile (pol io_tbl).
Proof. apply withinb_sound; vm_compute; reflexivity. Qed.

(** It does not hold before the drop: the root server, holding IOSpace
    control, controls the driver's IOSpace (and both domains). *)
Example io_built_not_within : withinb io_tbl io_built = false.
Proof. vm_compute; reflexivity. Qed.

(** Hence, whatever any thread does next with kernel and IOSpace
    operations: the driver (and its device, through any IOSpace it can
    reach) never gets any authority over the client's objects, in
    particular never reads or writes the client's frame by DMA; the client
    never controls anything of the driver; no domain gets authority over
    the root server's objects. *)
Theorem io_confined : forall ops a,
  ~ auth (irun io_tile ops) 1 a 2 /\
  ~ auth (irun io_tile ops) 2 Control 1 /\
  (forall d, d <> 0 -> ~ auth (irun io_tile ops) d a 0).
Proof.
  intros ops a; split; [|split]; try intros d Hd;
    apply (io_confinement (pol io_tbl) io_tile ops _ _ _ io_wf io_within);
    unfold pol, polb; simpl.
  - destruct a; vm_compute; discriminate.
  - vm_compute; discriminate.
  - destruct d as [|d]; [contradiction|]; destruct a; simpl;
      repeat (destruct d as [|d]; simpl; try discriminate); discriminate.
Qed.

(** Concrete steps after the drop: the driver cannot map the client's frame
    into its IOSpace (it cannot name the client's slots) nor issue an
    IOSpace (it has no control); it maps its own frame read-only at another
    IO address; deleting its IOSpace capability (the last one) destroys
    the IOSpace and both of its mappings. *)
Example io_after :
  istep io_tile (IMap 12 (11, 5) (21, 3) 4096) = None /\
  istep io_tile (IIssue 12 (11, 5) (11, 6) 40) = None /\
  map (fun m => (m_vs m, m_va m, m_frame m, m_write m))
      (kmaps (irun io_tile [IK (KMint 12 (11, 3) (11, 6) ro 0); IMap 12 (11, 5) (11, 6) 4096])) =
    [(26, 4096, 14, false); (26, 0, 14, true); (25, 1, 24, true); (15, 1, 14, true)] /\
  map (fun m => (m_vs m, m_frame m))
      (kmaps (irun io_tile [IK (KMint 12 (11, 3) (11, 6) ro 0); IMap 12 (11, 5) (11, 6) 4096;
                            IK (KDelete 12 (11, 5))])) = [(25, 24); (15, 14)] /\
  find_obj (kobjs (irun io_tile [IK (KDelete 12 (11, 5))])) 26 = None.
Proof. vm_compute; repeat split; reflexivity. Qed.

(** A second issue for the same function, before the drop, names the same
    IOSpace object (as the kernel's); a requester ID beyond bus 7 is
    refused. *)
Example io_reissue :
  kcap_at (irun io_built [IIssue 1 (0, 5) (0, 40) 32]) (0, 40) = Some (26, IoSpaceObj, true, true) /\
  istep io_built (IIssue 1 (0, 5) (0, 40) 2048) = None.
Proof. vm_compute; repeat split; reflexivity. Qed.
