(** * tileos capability system: frame map and unmap as the kernel does them

    [Kernel.v]'s [KMap] and [KUnmap] are the authority-level view of a
    mapping: a frame under a page-table root at an address, nothing else.
    The kernel (kernel/src/invoke/vspace.rs over [tileos_kernel::vspace])
    does more, and refuses more:
    - an invoked zombie (a CNode's deletion under way in its slot) is
      refused with DeletionInProgress whatever the method (the kernel's
      decoder checks it before the type);
    - a frame capability records the one place it is mapped, as (ASID,
      address); a map of a capability mapped elsewhere is refused
      (IllegalOperation), an unmap names the capability, not the address,
      and removes only an entry that still holds that frame;
    - the address space is a PML4 with a live ASID (another capability:
      InvalidCapability); the address must be page-aligned
      (AlignmentError) and in the user half (InvalidArgument); the frame
      needs the read right (InvalidArgument); a page table must already
      cover the address (FailedLookup); the entry must be free unless it
      is this frame's own re-map (DeleteFirst);
    - deleting a mapped frame capability unmaps it (the paging case of the
      kernel's [finalise]); [Kernel.v] keeps the mapping while the frame
      lives.

    This file adds that state around a [kstate] ([kmstate]: the live ASIDs,
    the paging structures entered in each address space (for a frame map,
    the 2 MiB regions a page table covers), the mapping each frame
    capability records, by CDT node) and a step function [kmstep] over the
    operations of [Kernel.v] ([KMOp]) and two more, [KMapFrame] and
    [KUnmapFrame] (4 KiB frames, all rights requested, no attributes), with
    the kernel's error code of every refusal in the kernel's order of
    checks. It is extracted for the refinement test
    (proofs/model-checker/src/refinement.rs) in place of
    [KernelErrors.kstep_code].

    Since 2026-12-06 also the kernel's paging-structure map and unmap
    ([KMapTable], [KUnmapTable]: PDPT, page directory and page table,
    [vspace::map_table] and [vspace::unmap_structure] behind
    kernel/src/invoke/vspace.rs), the structures entered in each address
    space ([kcover]), the mapping each paging-structure capability records
    ([ktrec]), the unmapping of a structure whose last capability is deleted
    ([settle], the kernel's [finalise]), and the kernel's refusal to copy an
    unmapped paging-structure capability ([table_src], [cap::derive]).

    Not modelled: 2 MiB frames (huge entries in a page directory), requested
    rights narrower than the capability's, attributes, IOSpaces, ASID
    allocation and reuse, the level of a structure retyped from an untyped
    ([klevel] is an input), a transfer over IPC of an unmapped structure's
    capability ([Kernel.v]'s [derive] lets it through).

    Proved here: on [Kernel.v]'s operations [kmstep] refuses exactly when
    [kstep] does, with [kerror_of]'s code, or for a copy or mint of an
    unmapped paging-structure capability ([kmstep_table_derive_refused]),
    and otherwise has [kstep]'s slots and objects with a subset of its
    mappings ([kmstep_op_ok], [kmstep_op_err]); a mapping [KMapFrame] adds is one [KMap] could add:
    the thread can name the VSpace and frame slots, the VSpace is a page
    table, the frame has the read right, the write bit is the frame's write
    right, and every other mapping was there before ([kmap_frame_auth]);
    [KUnmapFrame] only removes mappings and changes no slot
    ([kunmap_frame_shrinks]); an AlignmentError names an unaligned address
    ([kmerror_alignment]); an InvalidCapability names a VSpace slot whose
    capability is not the root of a live ASID ([kmerror_invalid_capability]);
    a DeleteFirst of a map names an address in use ([kmerror_map_delete_first]);
    an IllegalOperation of a map names a non-frame invoked capability or a
    frame capability recording another place ([kmerror_map_illegal]); a
    DeletionInProgress of a map or unmap names an invoked zombie
    ([kmerror_map_deletion_in_progress]). [Kernel.v]'s one-unit deletions
    ([KDeleteStep], [KRevokeStep]) are [KMOp]s like the others: a frame
    capability a unit removes is unmapped by [settle]. Paging structures:
    a table map changes no capability, object, binding or frame mapping and
    enters only the invoked structure ([kmap_table_auth]); a table unmap
    only removes ([kunmap_table_shrinks]); RevokeFirst, DeleteFirst and
    IllegalOperation name their causes ([kmerror_table_revoke_first],
    [kmerror_table_delete_first], [kmerror_table_illegal]); a frame map
    needs an entered page table ([kmap_frame_covered]).
    Not proved: that these are the kernel's checks and codes; that is what
    the refinement test checks. *)

From Coq Require Import List Arith Bool Lia.
Import ListNotations.
From Tileos Require Import Model Kernel KernelErrors.

(** The state: [kms] the capability state with its mappings ([kmaps]:
    (root object, address, frame object, writable)); [kasids]: (ASID,
    root object) of every live ASID; [kcover]: (root object, (level,
    (region, structure object))) of every paging structure reachable from a
    live root, entered for region [region] (its first address divided by
    [span level]: the 2 MiB a page table covers, level 1; the 1 GiB of a
    page directory, 2; the 512 GiB of a PDPT, 3); [krec]: (CDT node of a
    frame capability, (ASID, address)) of every frame capability that
    records a mapping (also one whose ASID is gone: the kernel does not
    forget it); [klevel]: (object, level) of every paging structure that is
    not a root (the level its capabilities carry in the kernel); [ktrec]:
    (CDT node of a paging-structure capability, (ASID, first address of the
    region)) of every one that records a mapping. *)
Record kmstate := mkKM {
  kms : kstate;
  kasids : list (nat * nat);
  kcover : list (nat * (nat * (nat * nat)));
  krec : list (nat * (nat * nat));
  klevel : list (nat * nat);
  ktrec : list (nat * (nat * nat))
}.

Inductive kmop :=
| KMOp (o : kop)
| KMapFrame (t : nat) (fr vs : slot) (va : nat)
| KUnmapFrame (t : nat) (fr : slot)
(** PagingStructureMap of the paging-structure capability at [pt] at [va]
    in the address space of the capability at [vs]; PagingStructureUnmap. *)
| KMapTable (t : nat) (pt vs : slot) (va : nat)
| KUnmapTable (t : nat) (pt : slot).

(** The codes: [kerror]'s, and three only the mapping operations give. *)
Inductive kmerror :=
| KMErr (e : kerror)
| KAlignmentError
| KInvalidCapability
| KRevokeFirst.

(** Carried out; refused, the state unchanged; or answered with an error
    after the state changed ([KernelErrors.KErrAfter]). *)
Inductive kmresult :=
| KMOk (s : kmstate)
| KMFail (e : kmerror)
| KMFailAfter (e : kmerror) (s : kmstate).

Definition page_bytes : nat := 2 ^ 12.
Definition region_bytes : nat := 2 ^ 21.
(** The end of the user half ([vspace::USER_TOP]). *)
Definition user_top : nat := 2 ^ 47.

(** [va] is a multiple of the page size; the page at [va] lies in the user
    half. (Left folded by [simpl] in the proofs below.) *)
Definition aligned (va : nat) : bool := va =? va / page_bytes * page_bytes.
Definition in_user_half (va : nat) : bool := va + page_bytes <=? user_top.
Arguments aligned : simpl never.
Arguments in_user_half : simpl never.

Definition asid_of_root (s : kmstate) (v : nat) : option nat :=
  option_map fst (find (fun p => snd p =? v) (kasids s)).

Definition root_of_asid (s : kmstate) (a : nat) : option nat :=
  option_map snd (find (fun p => fst p =? a) (kasids s)).

Definition rec_of (s : kmstate) (n : nat) : option (nat * nat) :=
  option_map snd (find (fun p => fst p =? n) (krec s)).

(** The bytes a paging structure of level [l] covers: 2^(12 + 9 l). *)
Definition span (l : nat) : nat := 2 ^ (12 + 9 * l).
Arguments span : simpl never.

(** The region of level [l] holding [va], and its first address. Left
    folded by [simpl] (which would otherwise partly compute the division in
    unary, about a second a call in the proofs below). *)
Definition region_of (l va : nat) : nat := va / span l.
Definition region_base (l va : nat) : nat := region_of l va * span l.
Arguments region_of : simpl never.
Arguments region_base : simpl never.

(** A structure of level [l] is entered for region [r] of root [v]. *)
Definition entered (s : kmstate) (v l r : nat) : bool :=
  existsb (fun p => (fst p =? v) && (fst (snd p) =? l) && (fst (snd (snd p)) =? r)) (kcover s).
Arguments entered : simpl never.

(** A page table covers the 2 MiB of [va] in root [v]. *)
Definition covered (s : kmstate) (v va : nat) : bool := entered s v 1 (va / region_bytes).
Arguments covered : simpl never.

(** The table a structure of level [l] is entered in exists for [va]: the
    PML4 itself for a PDPT, else an entered structure of the level above
    ([vspace::find_table] of the parent level). *)
Definition parent_found (s : kmstate) (v l va : nat) : bool :=
  (l =? 3) || entered s v (S l) (va / span (S l)).
Arguments parent_found : simpl never.

Definition level_of (s : kmstate) (o : nat) : option nat :=
  option_map snd (find (fun p => fst p =? o) (klevel s)).

Definition trec_of (s : kmstate) (n : nat) : option (nat * nat) :=
  option_map snd (find (fun p => fst p =? n) (ktrec s)).

(** Entry [p] of [kcover] lies in region [r] of level [l] of root [v] (the
    structure entered there and everything reached through it). *)
Definition in_region (v l r : nat) (p : nat * (nat * (nat * nat))) : bool :=
  (fst p =? v) && (fst (snd p) <=? l) && (fst (snd (snd p)) * span (fst (snd p)) / span l =? r).

(** A frame mapping lies in region [r] of level [l] of root [v]. *)
Definition map_in_region (v l r : nat) (m : kmap) : bool :=
  (m_vs m =? v) && (m_va m / span l =? r).

Definition mapped_at (st : kstate) (v va : nat) : option kmap :=
  find (fun m => (m_vs m =? v) && (m_va m =? va)) (kmaps st).

Definition set_kmaps (st : kstate) (l : list kmap) : kstate :=
  mkK (kobjs st) (kctes st) (klbl st) (kwm st) l (kbind st) (knext_obj st) (knext_node st).

Definition drop_rec (n : nat) (l : list (nat * (nat * nat))) : list (nat * (nat * nat)) :=
  filter (fun p => negb (fst p =? n)) l.

(** The entry at [va] of root [v], if it maps frame [f]. *)
Definition holds (v va f : nat) (m : kmap) : bool :=
  (m_vs m =? v) && (m_va m =? va) && (m_frame m =? f).

(** The mapping the capability of node [n] (to frame [f]) records is
    removed: its entry if the ASID is live and the entry still holds [f]
    ([vspace::unmap_frame]), and the record. *)
Definition unmap_rec (s : kmstate) (n f : nat) : kmstate :=
  let st := kms s in
  match rec_of s n with
  | Some (a, va) =>
      let l := match root_of_asid s a with
               | Some v => filter (fun m => negb (holds v va f m)) (kmaps st)
               | None => kmaps st
               end in
      mkKM (set_kmaps st l) (kasids s) (kcover s) (drop_rec n (krec s)) (klevel s) (ktrec s)
  | None => s
  end.

Definition ok_map (s : kmstate) (xf : cte) (v a va : nat) : kmresult :=
  let st := kms s in
  KMOk (mkKM (set_kmaps st (mkMap v va (c_obj (e_cap xf)) (r_write (c_rights (e_cap xf)))
                             :: filter (fun m => negb ((m_vs m =? v) && (m_va m =? va))) (kmaps st)))
             (kasids s) (kcover s) ((e_node xf, (a, va)) :: drop_rec (e_node xf) (krec s))
             (klevel s) (ktrec s)).

(** The code of an invoked capability that is not a frame's: a zombie's
    DeletionInProgress (the kernel's decoder refuses any method of a zombie,
    before it looks at the type: [decode::decode]), else IllegalOperation.
    (A zombie is never a frame's, so refusing a zombie here, after the type
    check, gives the kernel's code in the kernel's order.) *)
Definition not_frame_error (c : cap) : kerror :=
  if is_zombie c then KDeletionInProgress else KIllegalOperation.

(** FrameMap of the frame capability at [fr] at [va] in the address space
    of the capability at [vs], in the kernel's order: the invoked slot
    (FailedLookup), its type (DeletionInProgress for a zombie, else IllegalOperation), the VSpace slot
    (FailedLookup), its type (InvalidCapability), alignment, the user half,
    the recorded mapping, the read right, the covering page table, the
    entry. *)
Definition kmap_frame (s : kmstate) (t : nat) (fr vs : slot) (va : nat) : kmresult :=
  let st := kms s in
  if negb (usable st t fr) then KMFail (KMErr KFailedLookup) else
  match lookup (kctes st) fr with
  | None => KMFail (KMErr KFailedLookup)
  | Some xf =>
    if negb (otype_eqb (c_type (e_cap xf)) FrameObj) then KMFail (KMErr (not_frame_error (e_cap xf))) else
    if negb (usable st t vs) then KMFail (KMErr KFailedLookup) else
    match lookup (kctes st) vs with
    | None => KMFail (KMErr KFailedLookup)
    | Some xv =>
      let v := c_obj (e_cap xv) in
      match (if otype_eqb (c_type (e_cap xv)) PageTableObj then asid_of_root s v else None) with
      | None => KMFail KInvalidCapability
      | Some a =>
        if negb (aligned va) then KMFail KAlignmentError else
        if negb (in_user_half va) then KMFail (KMErr KInvalidArgument) else
        let remap := match rec_of s (e_node xf) with Some _ => true | None => false end in
        if match rec_of s (e_node xf) with
           | Some (a', va') => negb ((a' =? a) && (va' =? va))
           | None => false
           end then KMFail (KMErr KIllegalOperation) else
        if negb (r_read (c_rights (e_cap xf))) then KMFail (KMErr KInvalidArgument) else
        if negb (covered s v va) then KMFail (KMErr KFailedLookup) else
        match mapped_at st v va with
        | Some m => if remap && (m_frame m =? c_obj (e_cap xf)) then ok_map s xf v a va
                    else KMFail (KMErr KDeleteFirst)
        | None => ok_map s xf v a va
        end
      end
    end
  end.

(** FrameUnmap of the frame capability at [fr]: the invoked slot
    (FailedLookup), its type (DeletionInProgress for a zombie, else IllegalOperation); an unmapped capability
    is left as it is. *)
Definition kunmap_frame (s : kmstate) (t : nat) (fr : slot) : kmresult :=
  let st := kms s in
  if negb (usable st t fr) then KMFail (KMErr KFailedLookup) else
  match lookup (kctes st) fr with
  | None => KMFail (KMErr KFailedLookup)
  | Some xf =>
    if negb (otype_eqb (c_type (e_cap xf)) FrameObj) then KMFail (KMErr (not_frame_error (e_cap xf)))
    else KMOk (unmap_rec s (e_node xf) (c_obj (e_cap xf)))
  end.

Definition has_node (l : list cte) (n : nat) : bool := existsb (fun e => e_node e =? n) l.

(** The frame object of the capability of node [n] in [l] (none: 0, which
    the records of a state built by the abstraction never need). *)
Definition frame_of (l : list cte) (n : nat) : nat :=
  match find (fun e => e_node e =? n) l with Some e => c_obj (e_cap e) | None => 0 end.

(** A [kcover] entry whose structure is dead after a step to [st']. *)
Definition dead_entry (st' : kstate) (q : nat * (nat * (nat * nat))) : bool :=
  negb (alive (kobjs st') (snd (snd (snd q)))).

(** [p] lies in the region of an entry whose structure died. *)
Definition under_dead (st' : kstate) (c : list (nat * (nat * (nat * nat)))) (p : nat * (nat * (nat * nat))) : bool :=
  existsb (fun q => dead_entry st' q && in_region (fst q) (fst (snd q)) (fst (snd (snd q))) p) c.

(** A frame mapping lies in the region of an entry whose structure died. *)
Definition map_under_dead (st' : kstate) (c : list (nat * (nat * (nat * nat)))) (m : kmap) : bool :=
  existsb (fun q => dead_entry st' q && map_in_region (fst q) (fst (snd q)) (fst (snd (snd q))) m) c.

(** After an operation of [Kernel.v] took [kms s] to [st']: every frame
    capability gone is unmapped ([finalise]); a paging structure whose last
    capability went is unmapped and cleared ([finalise]: [unmap_table]), so
    its entry and everything reached through it leave the address space,
    frame mappings included; then the ASIDs and entries of dead roots and
    the records of gone capabilities are dropped. *)
Definition settle (s : kmstate) (st' : kstate) : kmstate :=
  let gone := filter (fun p => negb (has_node (kctes st') (fst p))) (krec s) in
  let l := filter (fun m => negb (existsb (fun p =>
             match root_of_asid s (fst (snd p)) with
             | Some v => holds v (snd (snd p)) (frame_of (kctes (kms s)) (fst p)) m
             | None => false
             end) gone)) (kmaps st') in
  let l' := filter (fun m => negb (map_under_dead st' (kcover s) m)) l in
  mkKM (set_kmaps st' l')
       (filter (fun p => alive (kobjs st') (snd p)) (kasids s))
       (filter (fun p => alive (kobjs st') (fst p) && negb (under_dead st' (kcover s) p)) (kcover s))
       (filter (fun p => has_node (kctes st') (fst p)) (krec s))
       (klevel s)
       (filter (fun p => has_node (kctes st') (fst p)) (ktrec s)).

(** The source of a copy or mint, if it is a capability to a paging
    structure that is not a root: [Some] of its recorded mapping. The
    kernel's [cap::derive] refuses an unmapped one (IllegalOperation), and
    a copy of a mapped one keeps the mapping. *)
Definition table_src (s : kmstate) (o : kop) : option (option (nat * nat)) :=
  let src := match o with KCopy _ src _ | KMint _ src _ _ _ => Some src | _ => None end in
  match src with
  | Some src =>
      match lookup (kctes (kms s)) src with
      | Some x =>
          if otype_eqb (c_type (e_cap x)) PageTableObj then
            match level_of s (c_obj (e_cap x)) with
            | Some _ => Some (trec_of s (e_node x))
            | None => None
            end
          else None
      | None => None
      end
  | None => None
  end.

Definition add_trec (n : nat) (r : nat * nat) (s : kmstate) : kmstate :=
  mkKM (kms s) (kasids s) (kcover s) (krec s) (klevel s) ((n, r) :: ktrec s).

(** The capability at [x] is not the only one to its object ([cspace::is_final]
    false). *)
Definition shared (st : kstate) (x : cte) : bool :=
  existsb (fun e => negb (slot_eqb (e_slot e) (e_slot x)) && (c_obj (e_cap e) =? c_obj (e_cap x))) (kctes st).

(** The level of the paging structure the capability [c] names, if it is
    one that is not a root. *)
Definition table_level (s : kmstate) (c : cap) : option nat :=
  if otype_eqb (c_type c) PageTableObj then level_of s (c_obj c) else None.

(** PagingStructureMap of the capability at [pt] at [va] in the address
    space of the capability at [vs], in the kernel's order
    (kernel/src/invoke/vspace.rs, [vspace::map_table]): the invoked slot
    (FailedLookup), its type (DeletionInProgress for a zombie, else
    IllegalOperation: a root or another type), the VSpace slot
    (FailedLookup), its type (InvalidCapability), the recorded mapping
    (IllegalOperation), the user half (InvalidArgument), the table of the
    level above (FailedLookup), the entry (DeleteFirst). The capability
    records the region's first address. *)
Definition kmap_table (s : kmstate) (t : nat) (pt vs : slot) (va : nat) : kmresult :=
  let st := kms s in
  if negb (usable st t pt) then KMFail (KMErr KFailedLookup) else
  match lookup (kctes st) pt with
  | None => KMFail (KMErr KFailedLookup)
  | Some xt =>
    match table_level s (e_cap xt) with
    | None => KMFail (KMErr (not_frame_error (e_cap xt)))
    | Some l =>
      if negb (usable st t vs) then KMFail (KMErr KFailedLookup) else
      match lookup (kctes st) vs with
      | None => KMFail (KMErr KFailedLookup)
      | Some xv =>
        let v := c_obj (e_cap xv) in
        match (if otype_eqb (c_type (e_cap xv)) PageTableObj then asid_of_root s v else None) with
        | None => KMFail KInvalidCapability
        | Some a =>
          match trec_of s (e_node xt) with
          | Some _ => KMFail (KMErr KIllegalOperation)
          | None =>
            if negb (va <? user_top) then KMFail (KMErr KInvalidArgument) else
            if negb (parent_found s v l va) then KMFail (KMErr KFailedLookup) else
            if entered s v l (region_of l va) then KMFail (KMErr KDeleteFirst) else
            KMOk (mkKM st (kasids s) ((v, (l, (region_of l va, c_obj (e_cap xt)))) :: kcover s)
                       (krec s) (klevel s) ((e_node xt, (a, region_base l va)) :: ktrec s))
          end
        end
      end
    end
  end.

(** The structure [o] of level [l] whose capability (node [n]) records a
    mapping is unmapped ([vspace::unmap_table]): if its ASID is live and it
    is entered where it records, that entry and everything reached through
    it leave the address space (the kernel clears the structure); the
    record goes. *)
Definition unmap_table (s : kmstate) (n o l : nat) : kmstate :=
  let st := kms s in
  let keep := mkKM st (kasids s) (kcover s) (krec s) (klevel s) (drop_rec n (ktrec s)) in
  match trec_of s n with
  | Some (a, va) =>
      let r := va / span l in
      match root_of_asid s a with
      | Some v =>
          if existsb (fun p => (fst p =? v) && (fst (snd p) =? l) && (fst (snd (snd p)) =? r)
                               && (snd (snd (snd p)) =? o)) (kcover s)
          then mkKM (set_kmaps st (filter (fun m => negb (map_in_region v l r m)) (kmaps st)))
                    (kasids s) (filter (fun p => negb (in_region v l r p)) (kcover s))
                    (krec s) (klevel s) (drop_rec n (ktrec s))
          else keep
      | None => keep
      end
  | None => s
  end.

(** PagingStructureUnmap of the capability at [pt]: the invoked slot
    (FailedLookup), its type (as [kmap_table]); an unmapped capability is
    left as it is; a mapped one that is not the last to its structure is
    refused (RevokeFirst). *)
Definition kunmap_table (s : kmstate) (t : nat) (pt : slot) : kmresult :=
  let st := kms s in
  if negb (usable st t pt) then KMFail (KMErr KFailedLookup) else
  match lookup (kctes st) pt with
  | None => KMFail (KMErr KFailedLookup)
  | Some xt =>
    match table_level s (e_cap xt) with
    | None => KMFail (KMErr (not_frame_error (e_cap xt)))
    | Some l =>
      match trec_of s (e_node xt) with
      | None => KMOk s
      | Some _ => if shared st xt then KMFail KRevokeFirst
                  else KMOk (unmap_table s (e_node xt) (c_obj (e_cap xt)) l)
      end
    end
  end.

Definition kmstep (s : kmstate) (o : kmop) : kmresult :=
  match o with
  | KMOp o =>
      match kstep_code (kms s) o with
      | KOk st' =>
          match table_src s o with
          | Some None => KMFail (KMErr KIllegalOperation)
          | Some (Some r) => KMOk (add_trec (knext_node (kms s)) r (settle s st'))
          | None => KMOk (settle s st')
          end
      | KErr e => KMFail (KMErr e)
      | KErrAfter e st' => KMFailAfter (KMErr e) (settle s st')
      end
  | KMapFrame t fr vs va => kmap_frame s t fr vs va
  | KUnmapFrame t fr => kunmap_frame s t fr
  | KMapTable t pt vs va => kmap_table s t pt vs va
  | KUnmapTable t pt => kunmap_table s t pt
  end.

(** ** Kernel.v's operations: the same acceptance, code, slots and objects,
    fewer mappings *)

Theorem kmstep_op_ok : forall s o s',
  (kmstep s (KMOp o) = KMOk s' \/ exists e, kmstep s (KMOp o) = KMFailAfter e s') ->
  exists st', kstep (kms s) o = Some st' /\
    kobjs (kms s') = kobjs st' /\ kctes (kms s') = kctes st' /\ kbind (kms s') = kbind st' /\
    incl (kmaps (kms s')) (kmaps st').
Proof.
  intros s o s' H; simpl in H.
  destruct (kstep_code (kms s) o) as [st'|e|e st'] eqn:E;
    [destruct (table_src s o) as [[r|]|]|..];
    destruct H as [H|[e' H]]; try discriminate; inversion H; subst; clear H;
    (exists st'; split; [apply kstep_code_ok; eauto|]);
    simpl; repeat split; auto;
    intros m Hm; repeat (apply filter_In in Hm; destruct Hm as [Hm _]); exact Hm.
Qed.

(** The refusals of [Kernel.v]'s operations: [kstep]'s, with [kerror_of]'s
    code, and one more: a copy or mint of a capability to a paging
    structure (not a root) that records no mapping, which [Kernel.v]'s
    [derive] allows and the kernel's [cap::derive] refuses
    (IllegalOperation, after every check [kstep] makes). *)
Theorem kmstep_op_err : forall s o e,
  kmstep s (KMOp o) = KMFail e <->
  (kstep (kms s) o = None /\ e = KMErr (kerror_of (kms s) o)) \/
  ((exists st', kstep (kms s) o = Some st') /\ table_src s o = Some None /\ e = KMErr KIllegalOperation).
Proof.
  intros s o e; simpl; unfold kstep_code.
  destruct (kstep (kms s) o) as [st'|]; [destruct (kerror_after (kms s) o) eqn:A|].
  - split; intro H; [discriminate|destruct H as [[H _]|[_ [H _]]]; [discriminate|]].
    exfalso; unfold table_src in H; destruct o; try discriminate; simpl in A; discriminate.
  - destruct (table_src s o) as [[r|]|] eqn:T; split; intro H; try discriminate.
    + destruct H as [[H _]|[_ [H _]]]; discriminate.
    + inversion H; subst; right; eauto.
    + destruct H as [[H _]|[_ [_ ->]]]; [discriminate|reflexivity].
    + destruct H as [[H _]|[_ [H _]]]; discriminate.
  - split; intro H.
    + inversion H; auto.
    + destruct H as [[_ ->]|[[st' H] _]]; [reflexivity|discriminate].
Qed.

(** [table_src]'s refusal names a copy or mint whose source slot holds a
    capability to a paging structure of some level that records no
    mapping. *)
Theorem kmstep_table_derive_refused : forall s o,
  table_src s o = Some None ->
  exists t src dst x l, (o = KCopy t src dst \/ exists r b, o = KMint t src dst r b) /\
    lookup (kctes (kms s)) src = Some x /\ c_type (e_cap x) = PageTableObj /\
    level_of s (c_obj (e_cap x)) = Some l /\ trec_of s (e_node x) = None.
Proof.
  intros s o H; unfold table_src in H.
  destruct o as [t src dst|t src dst r b| | | | | | | | | | | | |]; try discriminate;
    exists t, src, dst;
    destruct (lookup (kctes (kms s)) src) as [x|]; try discriminate;
    destruct (otype_eqb (c_type (e_cap x)) PageTableObj) eqn:T; try discriminate;
    destruct (level_of s (c_obj (e_cap x))) as [l|] eqn:Lv; try discriminate;
    exists x, l; inversion H; repeat split; eauto using otype_eqb_true.
Qed.

(** ** Map *)

Lemma ok_map_maps : forall s xf v a va s' m,
  ok_map s xf v a va = KMOk s' -> In m (kmaps (kms s')) ->
  m = mkMap v va (c_obj (e_cap xf)) (r_write (c_rights (e_cap xf))) \/ In m (kmaps (kms s)).
Proof.
  intros s xf v a va s' m H Hm; unfold ok_map in H; inversion H; subst; clear H.
  simpl in Hm; destruct Hm as [<-|Hm]; [left; auto|right].
  apply filter_In in Hm; tauto.
Qed.

Lemma ok_map_ctes : forall s xf v a va s',
  ok_map s xf v a va = KMOk s' -> kctes (kms s') = kctes (kms s).
Proof. intros s xf v a va s' H; unfold ok_map in H; inversion H; reflexivity. Qed.

(** The authority a map adds is [KMap]'s: thread [t] can name both slots,
    the VSpace capability is a page table's, the frame capability a
    frame's with the read right, and the new mapping is writable only with
    the frame's write right. Slots are unchanged. *)
Theorem kmap_frame_auth : forall s t fr vs va s',
  kmstep s (KMapFrame t fr vs va) = KMOk s' ->
  kctes (kms s') = kctes (kms s) /\
  forall m, In m (kmaps (kms s')) -> In m (kmaps (kms s)) \/
    exists xv xf, lookup (kctes (kms s)) vs = Some xv /\ lookup (kctes (kms s)) fr = Some xf /\
      usable (kms s) t vs = true /\ usable (kms s) t fr = true /\
      c_type (e_cap xv) = PageTableObj /\ c_type (e_cap xf) = FrameObj /\
      r_read (c_rights (e_cap xf)) = true /\
      m = mkMap (c_obj (e_cap xv)) va (c_obj (e_cap xf)) (r_write (c_rights (e_cap xf))).
Proof.
  intros s t fr vs va s' H; simpl in H; unfold kmap_frame in H.
  destruct (usable (kms s) t fr) eqn:Uf; simpl in H; try discriminate.
  destruct (lookup (kctes (kms s)) fr) as [xf|] eqn:Lf; try discriminate.
  destruct (otype_eqb (c_type (e_cap xf)) FrameObj) eqn:Tf; simpl in H; try discriminate.
  destruct (usable (kms s) t vs) eqn:Uv; simpl in H; try discriminate.
  destruct (lookup (kctes (kms s)) vs) as [xv|] eqn:Lv; try discriminate.
  destruct (otype_eqb (c_type (e_cap xv)) PageTableObj) eqn:Tv; try discriminate.
  destruct (asid_of_root s (c_obj (e_cap xv))) as [a|]; try discriminate.
  destruct (aligned va); simpl in H; try discriminate.
  destruct (in_user_half va); simpl in H; try discriminate.
  match goal with |- ?G =>
    assert (K : ok_map s xf (c_obj (e_cap xv)) a va = KMOk s' -> r_read (c_rights (e_cap xf)) = true -> G) end.
  { intros Hok R.
    split; [apply (ok_map_ctes _ _ _ _ _ _ Hok)|].
    intros m Hm; destruct (ok_map_maps _ _ _ _ _ _ m Hok Hm) as [->|Hm']; [right|left; auto].
    exists xv, xf; repeat split; auto.
    - apply otype_eqb_true; auto.
    - apply otype_eqb_true; auto. }
  destruct (rec_of s (e_node xf)) as [[a' va']|];
    [destruct ((a' =? a) && (va' =? va)); simpl in H; try discriminate|].
  all: destruct (r_read (c_rights (e_cap xf))) eqn:R; simpl in H; try discriminate.
  all: destruct (covered s (c_obj (e_cap xv)) va); simpl in H; try discriminate.
  all: destruct (mapped_at (kms s) (c_obj (e_cap xv)) va) as [m|]; simpl in H; try discriminate.
  all: try (destruct (m_frame m =? c_obj (e_cap xf)); simpl in H; try discriminate).
  all: apply K; auto.
Qed.

(** Case analysis of every [if] and [match] on an option in hypothesis [H]
    (of the form [_ = KMFail _]), discarding the branches that contradict it. *)
Ltac split_in H :=
  repeat match type of H with
  | context [if ?b then _ else _] => destruct b; simpl in H; try discriminate
  | context [let (_, _) := ?q in _] => destruct q; simpl in H; try discriminate
  | context [match ?x with Some _ => _ | None => _ end] =>
      let p := fresh "p" in destruct x as [p|]; [try destruct p|]; simpl in H; try discriminate
  end.

(** An AlignmentError names an address that is not a multiple of the page size. *)
Theorem kmerror_alignment : forall s t fr vs va,
  kmstep s (KMapFrame t fr vs va) = KMFail KAlignmentError -> aligned va = false.
Proof.
  intros s t fr vs va H; simpl in H; unfold kmap_frame in H.
  destruct (usable (kms s) t fr); simpl in H; try discriminate.
  destruct (lookup (kctes (kms s)) fr) as [xf|]; try discriminate.
  destruct (otype_eqb (c_type (e_cap xf)) FrameObj); simpl in H; try discriminate.
  destruct (usable (kms s) t vs); simpl in H; try discriminate.
  destruct (lookup (kctes (kms s)) vs) as [xv|]; try discriminate.
  destruct (if otype_eqb (c_type (e_cap xv)) PageTableObj then asid_of_root s (c_obj (e_cap xv)) else None);
    try discriminate.
  destruct (aligned va) eqn:A; simpl in H.
  - exfalso; unfold ok_map in H; split_in H.
  - reflexivity.
Qed.

(** An InvalidCapability names a usable VSpace slot holding a capability
    that is not a page-table root with a live ASID. *)
Theorem kmerror_invalid_capability : forall s t fr vs va,
  kmstep s (KMapFrame t fr vs va) = KMFail KInvalidCapability ->
  exists xv, usable (kms s) t vs = true /\ lookup (kctes (kms s)) vs = Some xv /\
    (c_type (e_cap xv) <> PageTableObj \/ asid_of_root s (c_obj (e_cap xv)) = None).
Proof.
  intros s t fr vs va H; simpl in H; unfold kmap_frame in H.
  destruct (usable (kms s) t fr); simpl in H; try discriminate.
  destruct (lookup (kctes (kms s)) fr) as [xf|]; try discriminate.
  destruct (otype_eqb (c_type (e_cap xf)) FrameObj); simpl in H; try discriminate.
  destruct (usable (kms s) t vs) eqn:Uv; simpl in H; try discriminate.
  destruct (lookup (kctes (kms s)) vs) as [xv|]; try discriminate.
  exists xv; split; auto; split; auto.
  destruct (otype_eqb (c_type (e_cap xv)) PageTableObj) eqn:T.
  - destruct (asid_of_root s (c_obj (e_cap xv))) eqn:R; [|right; auto].
    exfalso; unfold ok_map in H; split_in H.
  - left; intro E; rewrite E in T; discriminate.
Qed.

(** A DeleteFirst of a map names an address of the address space at which a
    frame is mapped. *)
Theorem kmerror_map_delete_first : forall s t fr vs va,
  kmstep s (KMapFrame t fr vs va) = KMFail (KMErr KDeleteFirst) ->
  exists xv m, lookup (kctes (kms s)) vs = Some xv /\ mapped_at (kms s) (c_obj (e_cap xv)) va = Some m.
Proof.
  intros s t fr vs va H; simpl in H; unfold kmap_frame in H.
  destruct (usable (kms s) t fr); simpl in H; try discriminate.
  destruct (lookup (kctes (kms s)) fr) as [xf|]; try discriminate.
  destruct (otype_eqb (c_type (e_cap xf)) FrameObj); simpl in H;
    [|unfold not_frame_error in H; destruct (is_zombie (e_cap xf)); discriminate].
  destruct (usable (kms s) t vs); simpl in H; try discriminate.
  destruct (lookup (kctes (kms s)) vs) as [xv|]; try discriminate.
  exists xv.
  destruct (if otype_eqb (c_type (e_cap xv)) PageTableObj then asid_of_root s (c_obj (e_cap xv)) else None)
    as [a|]; try discriminate.
  destruct (aligned va); simpl in H; try discriminate.
  destruct (in_user_half va); simpl in H; try discriminate.
  destruct (rec_of s (e_node xf)) as [[a' va']|];
    [destruct ((a' =? a) && (va' =? va)); simpl in H; try discriminate|].
  all: destruct (r_read (c_rights (e_cap xf))); simpl in H; try discriminate.
  all: destruct (covered s (c_obj (e_cap xv)) va); simpl in H; try discriminate.
  all: destruct (mapped_at (kms s) (c_obj (e_cap xv)) va) as [m|]; [exists m; auto|].
  all: unfold ok_map in H; discriminate.
Qed.

(** An IllegalOperation of a map names an invoked capability that is not a
    frame's, or a frame capability that records a mapping at another place
    than the one asked for (the ASID of the address space, the address). *)
Theorem kmerror_map_illegal : forall s t fr vs va,
  kmstep s (KMapFrame t fr vs va) = KMFail (KMErr KIllegalOperation) ->
  exists xf, lookup (kctes (kms s)) fr = Some xf /\
    (c_type (e_cap xf) <> FrameObj \/
     exists xv a a' va', lookup (kctes (kms s)) vs = Some xv /\
       asid_of_root s (c_obj (e_cap xv)) = Some a /\
       rec_of s (e_node xf) = Some (a', va') /\ (a' <> a \/ va' <> va)).
Proof.
  intros s t fr vs va H; simpl in H; unfold kmap_frame in H.
  destruct (usable (kms s) t fr); simpl in H; try discriminate.
  destruct (lookup (kctes (kms s)) fr) as [xf|]; try discriminate.
  exists xf; split; auto.
  destruct (otype_eqb (c_type (e_cap xf)) FrameObj) eqn:T; simpl in H.
  2: { left; intro E; rewrite E in T; discriminate. }
  right.
  destruct (usable (kms s) t vs); simpl in H; try discriminate.
  destruct (lookup (kctes (kms s)) vs) as [xv|]; try discriminate.
  destruct (otype_eqb (c_type (e_cap xv)) PageTableObj); try discriminate.
  destruct (asid_of_root s (c_obj (e_cap xv))) as [a|] eqn:A; try discriminate.
  destruct (aligned va); simpl in H; try discriminate.
  destruct (in_user_half va); simpl in H; try discriminate.
  destruct (rec_of s (e_node xf)) as [[a' va']|] eqn:R.
  - destruct ((a' =? a) && (va' =? va)) eqn:E.
    + exfalso; simpl in H; unfold ok_map in H; split_in H.
    + exists xv, a, a', va'; repeat split; auto.
      apply andb_false_iff in E; destruct E as [E|E]; apply Nat.eqb_neq in E; auto.
  - exfalso; simpl in H; unfold ok_map in H; split_in H.
Qed.

(** A DeletionInProgress of a map or an unmap names an invoked slot the
    thread can name that holds a zombie (a CNode's deletion under way in it:
    [Kernel.v], "Preempted deletion"). *)
Theorem kmerror_map_deletion_in_progress : forall s o,
  match o with KMapFrame _ _ _ _ | KUnmapFrame _ _ => True | _ => False end ->
  kmstep s o = KMFail (KMErr KDeletionInProgress) ->
  exists t fr xf, (o = KUnmapFrame t fr \/ exists vs va, o = KMapFrame t fr vs va) /\
    usable (kms s) t fr = true /\ lookup (kctes (kms s)) fr = Some xf /\ is_zombie (e_cap xf) = true.
Proof.
  intros s o Ho H; destruct o as [o|t fr vs va|t fr|t pt vs va|t pt]; [contradiction| | |contradiction|contradiction].
  - exists t, fr; simpl in H; unfold kmap_frame in H.
    destruct (usable (kms s) t fr) eqn:U; simpl in H; try discriminate.
    destruct (lookup (kctes (kms s)) fr) as [xf|]; try discriminate.
    exists xf; repeat split; eauto.
    destruct (otype_eqb (c_type (e_cap xf)) FrameObj); simpl in H.
    + exfalso; split_in H; unfold ok_map in H; discriminate.
    + unfold not_frame_error in H; destruct (is_zombie (e_cap xf)); auto; discriminate.
  - exists t, fr; simpl in H; unfold kunmap_frame in H.
    destruct (usable (kms s) t fr) eqn:U; simpl in H; try discriminate.
    destruct (lookup (kctes (kms s)) fr) as [xf|]; try discriminate.
    exists xf; repeat split; eauto.
    destruct (otype_eqb (c_type (e_cap xf)) FrameObj); simpl in H; try discriminate.
    unfold not_frame_error in H; destruct (is_zombie (e_cap xf)); auto; discriminate.
Qed.

(** ** Unmap *)

(** An unmap changes no slot and only removes mappings. *)
Theorem kunmap_frame_shrinks : forall s t fr s',
  kmstep s (KUnmapFrame t fr) = KMOk s' ->
  kctes (kms s') = kctes (kms s) /\ incl (kmaps (kms s')) (kmaps (kms s)).
Proof.
  intros s t fr s' H; simpl in H; unfold kunmap_frame in H.
  destruct (usable (kms s) t fr); simpl in H; try discriminate.
  destruct (lookup (kctes (kms s)) fr) as [xf|]; try discriminate.
  destruct (otype_eqb (c_type (e_cap xf)) FrameObj); simpl in H; try discriminate.
  inversion H; subst; clear H; unfold unmap_rec.
  destruct (rec_of s (e_node xf)) as [[a va]|]; [|split; [reflexivity|intros m Hm; exact Hm]].
  split; [reflexivity|].
  destruct (root_of_asid s a); simpl; [|intros m Hm; exact Hm].
  intros m Hm; apply filter_In in Hm; tauto.
Qed.

(** ** Paging-structure map and unmap *)

(** A paging-structure map changes no capability, object, binding or frame
    mapping ([kms] is the same): it enters one structure for one region,
    the one the invoked capability names, of a root with a live ASID, both
    slots named by thread [t], the invoked capability recording no mapping
    before and the region's first address after. What it gives the thread
    is the possibility of later frame maps under it ([KMapFrame], which
    still needs the frame's capability: [kmap_frame_auth]). *)
Theorem kmap_table_auth : forall s t pt vs va s',
  kmstep s (KMapTable t pt vs va) = KMOk s' ->
  kms s' = kms s /\ kasids s' = kasids s /\ krec s' = krec s /\
  exists xt xv l a,
    usable (kms s) t pt = true /\ lookup (kctes (kms s)) pt = Some xt /\
    c_type (e_cap xt) = PageTableObj /\ level_of s (c_obj (e_cap xt)) = Some l /\
    usable (kms s) t vs = true /\ lookup (kctes (kms s)) vs = Some xv /\
    c_type (e_cap xv) = PageTableObj /\ asid_of_root s (c_obj (e_cap xv)) = Some a /\
    trec_of s (e_node xt) = None /\ va < user_top /\
    kcover s' = (c_obj (e_cap xv), (l, (region_of l va, c_obj (e_cap xt)))) :: kcover s /\
    ktrec s' = (e_node xt, (a, region_base l va)) :: ktrec s.
Proof.
  intros s t pt vs va s' H; simpl in H; unfold kmap_table, table_level in H.
  destruct (usable (kms s) t pt) eqn:Ut; simpl in H; try discriminate.
  destruct (lookup (kctes (kms s)) pt) as [xt|] eqn:Lt; try discriminate.
  destruct (otype_eqb (c_type (e_cap xt)) PageTableObj) eqn:Tt; try discriminate.
  destruct (level_of s (c_obj (e_cap xt))) as [l|] eqn:Lv; try discriminate.
  destruct (usable (kms s) t vs) eqn:Uv; simpl in H; try discriminate.
  destruct (lookup (kctes (kms s)) vs) as [xv|] eqn:Lvs; try discriminate.
  destruct (otype_eqb (c_type (e_cap xv)) PageTableObj) eqn:Tv; try discriminate.
  destruct (asid_of_root s (c_obj (e_cap xv))) as [a|] eqn:A; try discriminate.
  destruct (trec_of s (e_node xt)) eqn:R; try discriminate.
  destruct (va <? user_top) eqn:U; simpl in H; try discriminate.
  destruct (parent_found s (c_obj (e_cap xv)) l va); simpl in H; try discriminate.
  destruct (entered s (c_obj (e_cap xv)) l (region_of l va)); simpl in H; try discriminate.
  inversion H; subst; clear H; simpl; repeat split; auto.
  exists xt, xv, l, a; repeat split; auto using otype_eqb_true.
  apply Nat.ltb_lt; auto.
Qed.

(** A paging-structure unmap changes no capability, object or binding,
    only removes frame mappings and entered structures, and keeps every
    frame capability's record. *)
Theorem kunmap_table_shrinks : forall s t pt s',
  kmstep s (KUnmapTable t pt) = KMOk s' ->
  kctes (kms s') = kctes (kms s) /\ kobjs (kms s') = kobjs (kms s) /\ kbind (kms s') = kbind (kms s) /\
  klbl (kms s') = klbl (kms s) /\
  incl (kmaps (kms s')) (kmaps (kms s)) /\ incl (kcover s') (kcover s) /\ krec s' = krec s.
Proof.
  intros s t pt s' H; simpl in H; unfold kunmap_table, table_level in H.
  destruct (usable (kms s) t pt); simpl in H; try discriminate.
  destruct (lookup (kctes (kms s)) pt) as [xt|]; try discriminate.
  destruct (otype_eqb (c_type (e_cap xt)) PageTableObj); try discriminate.
  destruct (level_of s (c_obj (e_cap xt))) as [l|]; try discriminate.
  destruct (trec_of s (e_node xt)) as [r|] eqn:R.
  2: { inversion H; subst; repeat split; auto using incl_refl. }
  destruct (shared (kms s) xt); try discriminate.
  inversion H; subst; clear H; unfold unmap_table; rewrite R; destruct r as [a va].
  destruct (root_of_asid s a) as [v|]; [|simpl; repeat split; auto using incl_refl].
  match goal with |- context [if ?b then _ else _] => destruct b end;
    simpl; repeat split; auto using incl_refl;
    intros x Hx; apply filter_In in Hx; tauto.
Qed.

(** A RevokeFirst names a usable slot holding a capability to a paging
    structure that records a mapping, while another slot holds a capability
    to the same object. *)
Theorem kmerror_table_revoke_first : forall s o,
  kmstep s o = KMFail KRevokeFirst ->
  exists t pt xt, o = KUnmapTable t pt /\ usable (kms s) t pt = true /\
    lookup (kctes (kms s)) pt = Some xt /\ table_level s (e_cap xt) <> None /\
    trec_of s (e_node xt) <> None /\ shared (kms s) xt = true.
Proof.
  intros s o H; destruct o as [o|t fr vs va|t fr|t pt vs va|t pt]; simpl in H.
  - destruct (kstep_code (kms s) o); [destruct (table_src s o) as [[r|]|]|..]; discriminate.
  - exfalso; unfold kmap_frame in H; split_in H; unfold ok_map in H; discriminate.
  - exfalso; unfold kunmap_frame in H; split_in H.
  - exfalso; unfold kmap_table in H; split_in H.
  - exists t, pt; unfold kunmap_table in H.
    destruct (usable (kms s) t pt) eqn:U; simpl in H; try discriminate.
    destruct (lookup (kctes (kms s)) pt) as [xt|]; try discriminate.
    exists xt; destruct (table_level s (e_cap xt)) as [l|] eqn:Lv; try discriminate.
    destruct (trec_of s (e_node xt)) as [r|] eqn:R; try discriminate.
    destruct (shared (kms s) xt) eqn:Sh; try discriminate.
    repeat split; auto; discriminate.
Qed.

(** A DeleteFirst of a paging-structure map names a region of the address
    space for which a structure of the invoked one's level is entered. *)
Theorem kmerror_table_delete_first : forall s t pt vs va,
  kmstep s (KMapTable t pt vs va) = KMFail (KMErr KDeleteFirst) ->
  exists xt xv l, lookup (kctes (kms s)) pt = Some xt /\ table_level s (e_cap xt) = Some l /\
    lookup (kctes (kms s)) vs = Some xv /\ entered s (c_obj (e_cap xv)) l (region_of l va) = true.
Proof.
  intros s t pt vs va H; simpl in H; unfold kmap_table in H.
  destruct (usable (kms s) t pt); simpl in H; try discriminate.
  destruct (lookup (kctes (kms s)) pt) as [xt|]; try discriminate.
  destruct (table_level s (e_cap xt)) as [l|] eqn:Lv;
    [|unfold not_frame_error in H; destruct (is_zombie (e_cap xt)); discriminate].
  destruct (usable (kms s) t vs); simpl in H; try discriminate.
  destruct (lookup (kctes (kms s)) vs) as [xv|]; try discriminate.
  exists xt, xv, l; repeat split; auto.
  destruct (if otype_eqb (c_type (e_cap xv)) PageTableObj then asid_of_root s (c_obj (e_cap xv)) else None);
    try discriminate.
  destruct (trec_of s (e_node xt)); try discriminate.
  destruct (va <? user_top); simpl in H; try discriminate.
  destruct (parent_found s (c_obj (e_cap xv)) l va); simpl in H; try discriminate.
  destruct (entered s (c_obj (e_cap xv)) l (region_of l va)); simpl in H; [reflexivity|discriminate H].
Qed.

(** An IllegalOperation of a paging-structure map names an invoked
    capability that is not one to a paging structure below a root (a root,
    another type), or one that records a mapping already. *)
Theorem kmerror_table_illegal : forall s t pt vs va,
  kmstep s (KMapTable t pt vs va) = KMFail (KMErr KIllegalOperation) ->
  exists xt, lookup (kctes (kms s)) pt = Some xt /\
    (table_level s (e_cap xt) = None \/ trec_of s (e_node xt) <> None).
Proof.
  intros s t pt vs va H; simpl in H; unfold kmap_table in H.
  destruct (usable (kms s) t pt); simpl in H; try discriminate.
  destruct (lookup (kctes (kms s)) pt) as [xt|]; try discriminate.
  exists xt; split; auto.
  destruct (table_level s (e_cap xt)) as [l|]; [right|left; auto].
  destruct (usable (kms s) t vs); simpl in H; try discriminate.
  destruct (lookup (kctes (kms s)) vs) as [xv|]; try discriminate.
  destruct (if otype_eqb (c_type (e_cap xv)) PageTableObj then asid_of_root s (c_obj (e_cap xv)) else None);
    try discriminate.
  destruct (trec_of s (e_node xt)); [discriminate|].
  exfalso; split_in H.
Qed.

(** A frame map needs an entered page table: a [KMapFrame] that succeeds
    at [va] in root [v] found a structure of level 1 entered for [va]'s
    2 MiB ([covered]). So the regions a thread can map frames into are the
    ones [KMapTable] (or the initial state) entered. *)
Theorem kmap_frame_covered : forall s t fr vs va s',
  kmstep s (KMapFrame t fr vs va) = KMOk s' ->
  exists xv, lookup (kctes (kms s)) vs = Some xv /\ covered s (c_obj (e_cap xv)) va = true.
Proof.
  intros s t fr vs va s' H; simpl in H; unfold kmap_frame in H.
  destruct (usable (kms s) t fr); simpl in H; try discriminate.
  destruct (lookup (kctes (kms s)) fr) as [xf|]; try discriminate.
  destruct (otype_eqb (c_type (e_cap xf)) FrameObj); simpl in H; try discriminate.
  destruct (usable (kms s) t vs); simpl in H; try discriminate.
  destruct (lookup (kctes (kms s)) vs) as [xv|]; try discriminate.
  exists xv; split; auto.
  destruct (if otype_eqb (c_type (e_cap xv)) PageTableObj then asid_of_root s (c_obj (e_cap xv)) else None);
    try discriminate.
  destruct (aligned va); simpl in H; try discriminate.
  destruct (in_user_half va); simpl in H; try discriminate.
  destruct (match rec_of s (e_node xf) with Some (a', va') => _ | None => false end); simpl in H; try discriminate.
  destruct (r_read (c_rights (e_cap xf))); simpl in H; try discriminate.
  destruct (covered s (c_obj (e_cap xv)) va); auto; discriminate.
Qed.
