(* tileos-coq-step: applies the extracted Coq step function
   (KernelMap.kmstep: Kernel.kstep with the code of a refusal, and the
   kernel's frame map and unmap) to
   states and operations read from stdin, one case after another, and prints
   each result. The line format is described in proofs/coq/README.md
   ("The refinement link"). Any malformed line is an error naming the line. *)
open Kernel_model

let fail lineno msg = Printf.eprintf "tileos-coq-step: line %d: %s\n" lineno msg; exit 2

let otype_of lineno = function
  | "untyped" -> Untyped | "cnode" -> CNodeObj | "tcb" -> TCBObj
  | "endpoint" -> EndpointObj | "notification" -> NotificationObj
  | "reply" -> ReplyObj | "frame" -> FrameObj | "pagetable" -> PageTableObj
  | "iospacecontrol" -> IoSpaceControlObj | "iospace" -> IoSpaceObj
  | "zombie" -> ZombieObj | "zombieinner" -> ZombieInnerObj
  | s -> fail lineno ("unknown object type " ^ s)

let otype_name = function
  | Untyped -> "untyped" | CNodeObj -> "cnode" | TCBObj -> "tcb"
  | EndpointObj -> "endpoint" | NotificationObj -> "notification"
  | ReplyObj -> "reply" | FrameObj -> "frame" | PageTableObj -> "pagetable"
  | IoSpaceControlObj -> "iospacecontrol" | IoSpaceObj -> "iospace"
  | ZombieObj -> "zombie" | ZombieInnerObj -> "zombieinner"

(* A refusal's code, named as tileos_abi::InvocationError names it (KUnnamed:
   the model names no code, which no kernel answer equals). *)
let error_name = function
  | KFailedLookup -> "FailedLookup" | KDeleteFirst -> "DeleteFirst"
  | KIllegalOperation -> "IllegalOperation" | KInvalidArgument -> "InvalidArgument"
  | KNotEnoughMemory -> "NotEnoughMemory" | KRangeError -> "RangeError" | KUnnamed -> "unnamed"
  | KDeletionInProgress -> "DeletionInProgress"
  | KInvalidCapabilityArg n -> "InvalidCapability " ^ string_of_int n

let kmerror_name = function
  | KMErr e -> error_name e
  | KAlignmentError -> "AlignmentError" | KInvalidCapability -> "InvalidCapability"
  | KRevokeFirst -> "RevokeFirst"

let int_of lineno s =
  match int_of_string_opt s with
  | Some n when n >= 0 -> n
  | _ -> fail lineno ("not a natural number: " ^ s)

(* rights as four 0/1 digits: read, write, grant, grant-reply *)
let rights_of lineno s =
  if String.length s <> 4 || not (String.for_all (fun c -> c = '0' || c = '1') s) then
    fail lineno ("rights must be four 0/1 digits (read write grant grant-reply): " ^ s);
  let b i = s.[i] = '1' in
  { r_read = b 0; r_write = b 1; r_grant = b 2; r_grant_reply = b 3 }

let rights_str r =
  let d b = if b then "1" else "0" in
  d r.r_read ^ d r.r_write ^ d r.r_grant ^ d r.r_grant_reply

let slot_of lineno cn idx = (int_of lineno cn, int_of lineno idx)

let rec op_of lineno = function
  | ["mapframe"; t; a; b; c; d; va] ->
      KMapFrame (int_of lineno t, slot_of lineno a b, slot_of lineno c d, int_of lineno va)
  | ["unmapframe"; t; a; b] -> KUnmapFrame (int_of lineno t, slot_of lineno a b)
  | ["maptable"; t; a; b; c; d; va] ->
      KMapTable (int_of lineno t, slot_of lineno a b, slot_of lineno c d, int_of lineno va)
  | ["unmaptable"; t; a; b] -> KUnmapTable (int_of lineno t, slot_of lineno a b)
  | words -> KMOp (kop_of lineno words)

and kop_of lineno = function
  | ["copy"; t; a; b; c; d] -> KCopy (int_of lineno t, slot_of lineno a b, slot_of lineno c d)
  | ["mint"; t; a; b; c; d; r; badge] ->
      KMint (int_of lineno t, slot_of lineno a b, slot_of lineno c d, rights_of lineno r, int_of lineno badge)
  | ["move"; t; a; b; c; d] -> KMove (int_of lineno t, slot_of lineno a b, slot_of lineno c d)
  | ["mutate"; t; a; b; c; d; data] ->
      KMutate (int_of lineno t, slot_of lineno a b, slot_of lineno c d, int_of lineno data)
  | ["rotate"; t; a; b; c; d; e; f] ->
      KRotate (int_of lineno t, slot_of lineno a b, slot_of lineno c d, slot_of lineno e f)
  | ["delete"; t; a; b] -> KDelete (int_of lineno t, slot_of lineno a b)
  | ["revoke"; t; a; b] -> KRevoke (int_of lineno t, slot_of lineno a b)
  | ["deletestep"; t; a; b] -> KDeleteStep (int_of lineno t, slot_of lineno a b)
  | ["revokestep"; t; a; b] -> KRevokeStep (int_of lineno t, slot_of lineno a b)
  | ["send"; t; a; b; c; d; r; e; f; g; h] ->
      KSend (int_of lineno t, slot_of lineno a b, slot_of lineno c d, int_of lineno r,
             slot_of lineno e f, slot_of lineno g h)
  | ["reply"; t; a; b; c; d; r; e; f; g; h] ->
      KReply (int_of lineno t, slot_of lineno a b, slot_of lineno c d, int_of lineno r,
              slot_of lineno e f, slot_of lineno g h)
  | ["bind"; t; a; b; c; d] -> KBind (int_of lineno t, slot_of lineno a b, slot_of lineno c d)
  | "retype" :: t :: a :: b :: ty :: size :: dsts ->
      let rec slots = function
        | [] -> []
        | c :: d :: rest -> slot_of lineno c d :: slots rest
        | [_] -> fail lineno "retype destinations come in pairs (cnode index)"
      in
      KRetype (int_of lineno t, slot_of lineno a b, otype_of lineno ty, int_of lineno size, slots dsts)
  | w :: _ -> fail lineno ("unknown or malformed operation: " ^ w)
  | [] -> fail lineno "empty operation"

(* The result, as the refinement test compares it: one line per occupied
   slot, sorted, naming CNodes and objects by physical base (ids are the
   model's own), with the untyped watermark and the slot's CDT ancestors
   present in the state (CNODE_BASE:INDEX, sorted, comma-separated; "-" for
   none; an ancestor whose capability is gone is left out). A zombie's line
   has type "zombie" ("zombieinner" for one part of an outer deletion), its
   CNode's base and size, and its count of slots left in the watermark
   column. Then one line per frame mapping (map ROOT_BASE VA FRAME_BASE
   WRITABLE), one per mapping a frame capability records (rec
   CNODE_BASE INDEX ASID VA), one per paging structure entered in an
   address space (table ROOT_BASE LEVEL REGION STRUCTURE_BASE) and one per
   mapping a paging-structure capability records (trec CNODE_BASE INDEX
   ASID VA). *)
let print_state s =
  let st = s.kms in
  let base i = match find_obj st.kobjs i with Some o -> o | None -> { o_id = i; o_type = Untyped; o_base = -1; o_size = 0; o_parent = None } in
  let place e = Printf.sprintf "%d:%d" (base (fst e.e_slot)).o_base (snd e.e_slot) in
  let lines = List.map (fun e ->
      let cn = base (fst e.e_slot) and o = base e.e_cap.c_obj in
      (* the untyped's watermark, or the zombie's count of slots left *)
      let wm = if e.e_cap.c_type = Untyped || e.e_cap.c_type = ZombieObj || e.e_cap.c_type = ZombieInnerObj
               then string_of_int (st.kwm o.o_id) else "-" in
      let anc = List.sort compare (List.map place (List.filter (fun a -> List.mem a.e_node e.e_anc) st.kctes)) in
      Printf.sprintf "slot %d %d %d %s %d %s %d %s %s" cn.o_base (snd e.e_slot) o.o_base
        (otype_name e.e_cap.c_type) o.o_size (rights_str e.e_cap.c_rights) e.e_cap.c_badge wm
        (if anc = [] then "-" else String.concat "," anc))
      st.kctes in
  let maps = List.map (fun m ->
      Printf.sprintf "map %d %d %d %d" (base m.m_vs).o_base m.m_va (base m.m_frame).o_base
        (if m.m_write then 1 else 0)) st.kmaps in
  let recs = List.map (fun (n, (a, va)) ->
      match List.find_opt (fun e -> e.e_node = n) st.kctes with
      | Some e -> Printf.sprintf "rec %d %d %d %d" (base (fst e.e_slot)).o_base (snd e.e_slot) a va
      | None -> Printf.sprintf "rec node %d %d %d" n a va) s.krec in
  let tables = List.map (fun (v, (l, (r, o))) ->
      Printf.sprintf "table %d %d %d %d" (base v).o_base l r (base o).o_base) s.kcover in
  let trecs = List.map (fun (n, (a, va)) ->
      match List.find_opt (fun e -> e.e_node = n) st.kctes with
      | Some e -> Printf.sprintf "trec %d %d %d %d" (base (fst e.e_slot)).o_base (snd e.e_slot) a va
      | None -> Printf.sprintf "trec node %d %d %d" n a va) s.ktrec in
  List.iter print_endline (List.sort compare lines @ List.sort compare maps @ List.sort compare recs
                           @ List.sort compare tables @ List.sort compare trecs)

let () =
  let lineno = ref 0 in
  let objs = ref [] and ctes = ref [] and wms = ref [] and binds = ref [] in
  let maps = ref [] and asids = ref [] and cover = ref [] and recs = ref [] in
  let levels = ref [] and trecs = ref [] in
  let next = ref (0, 0) in
  let reset () =
    objs := []; ctes := []; wms := []; binds := []; next := (0, 0);
    maps := []; asids := []; cover := []; recs := []; levels := []; trecs := [] in
  let state () =
    let wm = !wms in
    { kms = { kobjs = List.rev !objs; kctes = List.rev !ctes; klbl = (fun _ -> 0);
              kwm = (fun i -> match List.assoc_opt i wm with Some w -> w | None -> 0);
              kmaps = List.rev !maps; kbind = List.rev !binds; knext_obj = fst !next; knext_node = snd !next };
      kasids = List.rev !asids; kcover = List.rev !cover; krec = List.rev !recs;
      klevel = List.rev !levels; ktrec = List.rev !trecs } in
  try
    while true do
      let line = input_line stdin in
      incr lineno;
      let n = !lineno in
      match String.split_on_char ' ' (String.trim line) with
      | [""] -> ()
      | ["obj"; id; ty; b; sz; parent] ->
          let p = if parent = "-" then None else Some (int_of n parent) in
          objs := { o_id = int_of n id; o_type = otype_of n ty; o_base = int_of n b; o_size = int_of n sz; o_parent = p } :: !objs
      | ["cte"; cn; idx; o; ty; r; badge; node; anc] ->
          let anc = if anc = "-" then [] else List.map (int_of n) (String.split_on_char ',' anc) in
          ctes := { e_slot = slot_of n cn idx;
                    e_cap = { c_obj = int_of n o; c_type = otype_of n ty; c_rights = rights_of n r; c_badge = int_of n badge };
                    e_node = int_of n node; e_anc = anc } :: !ctes
      | ["wm"; id; w] -> wms := (int_of n id, int_of n w) :: !wms
      | ["bind"; t; cn] -> binds := (int_of n t, int_of n cn) :: !binds
      | ["next"; o; nd] -> next := (int_of n o, int_of n nd)
      | ["kmap"; vs; va; f; w] ->
          let w = (match w with "0" -> false | "1" -> true | _ -> fail n ("writable must be 0 or 1: " ^ w)) in
          maps := { m_vs = int_of n vs; m_va = int_of n va; m_frame = int_of n f; m_write = w } :: !maps
      | ["asid"; a; root] -> asids := (int_of n a, int_of n root) :: !asids
      | ["cover"; root; l; region; o] ->
          cover := (int_of n root, (int_of n l, (int_of n region, int_of n o))) :: !cover
      | ["level"; o; l] -> levels := (int_of n o, int_of n l) :: !levels
      | ["trec"; node; a; va] -> trecs := (int_of n node, (int_of n a, int_of n va)) :: !trecs
      | ["rec"; node; a; va] -> recs := (int_of n node, (int_of n a, int_of n va)) :: !recs
      | "op" :: rest ->
          let op = op_of n rest in
          (match kmstep (state ()) op with
           | KMFail e -> print_endline ("none " ^ kmerror_name e)
           | KMFailAfter (e, s') -> print_endline ("none " ^ kmerror_name e); print_endline "state"; print_state s'
           | KMOk s' -> print_endline "state"; print_state s');
          print_endline "end";
          flush stdout;
          reset ()
      | w :: _ -> fail n ("unknown line kind: " ^ w)
      | [] -> ()
    done
  with End_of_file -> ()
