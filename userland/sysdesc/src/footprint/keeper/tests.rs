use super::*;
use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;

/// A capability of the model: an object id and the piece it was retyped from (`None`: a
/// piece itself, or a copy of a shared object).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cap {
    id: u32,
    parent: Option<u32>,
}

/// The root server's CNode and one keeper, as maps from slot to capability; a move fails
/// (like the kernel) when its source is empty or its destination full, and every operation
/// fails once `fail_at` reaches 0.
struct Model {
    root: BTreeMap<u64, Cap>,
    keeper: BTreeMap<u64, Cap>,
    free: Vec<u64>,
    capacity: u64,
    operations: u32,
    fail_at: Option<u32>,
}

#[derive(Debug, PartialEq, Eq)]
enum Refused {
    Empty,
    Occupied,
    Injected,
}

impl Model {
    fn new(free: impl Iterator<Item = u64>, capacity: u64) -> Model {
        Model { root: BTreeMap::new(), keeper: BTreeMap::new(), free: free.collect(), capacity, operations: 0, fail_at: None }
    }

    fn step(&mut self) -> Result<(), Refused> {
        self.operations += 1;
        if self.fail_at == Some(self.operations) { Err(Refused::Injected) } else { Ok(()) }
    }

    /// A fresh root slot holding `cap` (as a retype or copy would make it).
    fn make(&mut self, cap: Cap) -> u64 {
        let slot = self.free.pop().expect("a free root slot");
        self.root.insert(slot, cap);
        slot
    }

    /// Every capability derived from piece `id`, wherever it is.
    fn children(&self, id: u32) -> usize {
        self.root.values().chain(self.keeper.values()).filter(|c| c.parent == Some(id)).count()
    }
}

impl Capabilities for Model {
    type Error = Refused;
    fn free_slots(&self) -> u64 {
        self.free.len() as u64
    }
    fn take_slot(&mut self) -> Option<u64> {
        self.free.pop()
    }
    fn give_back(&mut self, slot: u64) {
        assert!(!self.root.contains_key(&slot), "slot {slot} given back full");
        self.free.push(slot);
    }
    fn move_out(&mut self, index: u64, root: u64) -> Result<(), Refused> {
        self.step()?;
        if self.root.contains_key(&root) {
            return Err(Refused::Occupied);
        }
        let cap = self.keeper.remove(&index).ok_or(Refused::Empty)?;
        self.root.insert(root, cap);
        Ok(())
    }
    fn move_in(&mut self, root: u64, index: u64) -> Result<(), Refused> {
        self.step()?;
        assert!(index < self.capacity, "keeper slot {index} outside its {} slots", self.capacity);
        if self.keeper.contains_key(&index) {
            return Err(Refused::Occupied);
        }
        let cap = self.root.remove(&root).ok_or(Refused::Empty)?;
        self.keeper.insert(index, cap);
        Ok(())
    }
    fn revoke(&mut self, index: Option<u64>, root: u64) -> Result<(), Refused> {
        self.step()?;
        let cap = match index {
            Some(index) => self.keeper.get(&index),
            None => self.root.get(&root),
        };
        let id = cap.ok_or(Refused::Empty)?.id;
        let dead: Vec<u64> = self.root.iter().filter(|(_, c)| c.parent == Some(id)).map(|(&s, _)| s).collect();
        for slot in dead {
            self.root.remove(&slot);
            self.free.push(slot);
        }
        self.keeper.retain(|_, c| c.parent != Some(id));
        Ok(())
    }
    fn delete(&mut self, index: u64) -> Result<(), Refused> {
        self.step()?;
        // Deleting an empty slot succeeds, as in the kernel.
        self.keeper.remove(&index);
        Ok(())
    }
}

/// A model with 64 free root slots, a keeper of `1 << radix` slots, and `pieces` pieces in
/// root slots (ids 100…), as the boot makes them.
fn setup(radix: u32, pieces: u32) -> (Model, Keeper, Vec<u64>) {
    let mut model = Model::new(10..74, 1 << radix);
    let slots = (0..pieces).map(|i| model.make(Cap { id: 100 + i, parent: None })).collect();
    (model, Keeper::new(5, radix), slots)
}

/// A build: `objects` objects retyped from the pieces in turn, plus `copies` copies of
/// shared objects, in fresh root slots; returns the slots.
fn build(model: &mut Model, pieces: u32, objects: u32, copies: u32) -> Vec<u64> {
    let mut made: Vec<u64> = (0..objects).map(|i| model.make(Cap { id: 1000 + i, parent: Some(100 + i % pieces) })).collect();
    made.extend((0..copies).map(|i| model.make(Cap { id: 5000 + i, parent: None })));
    made
}

#[test]
fn stow_keeps_objects_from_slot_0_and_pieces_from_the_last_slot_down_and_gives_root_slots_back() {
    let (mut model, mut keeper, mut pieces) = setup(5, 3);
    let free_before = model.free_slots();
    let made = build(&mut model, 3, 10, 2);
    keeper.stow(&mut model, made.iter().copied(), &pieces).unwrap();
    assert_eq!(keeper.objects(), 12);
    assert_eq!(model.keeper.keys().copied().collect::<Vec<_>>(), [(0..12).collect::<Vec<u64>>(), vec![29, 30, 31]].concat());
    assert_eq!(model.keeper[&31].id, 100, "piece 0 in the last slot");
    assert_eq!(model.keeper[&29].id, 102, "piece 2 two below it");
    assert!((0..3).all(|i| keeper.holds_piece(i)));
    // What was made is still in root slots in the caller's hands (12 moved, given back by the
    // caller); the pieces' root slots are free again.
    assert!(model.root.is_empty());
    assert_eq!(model.free_slots(), free_before - 12 + 3);
    // Taken out for a restart, the pieces are in fresh root slots again, written back.
    pieces.fill(0);
    keeper.take_out(&mut model, &mut pieces).unwrap();
    assert!(pieces.iter().all(|&slot| model.root.get(&slot).is_some_and(|c| c.parent.is_none())));
    assert!((0..3).all(|i| !keeper.holds_piece(i)));
}

#[test]
fn a_restart_destroys_what_was_built_and_reuses_the_same_keeper_slots() {
    let (mut model, mut keeper, mut pieces) = setup(5, 2);
    let made = build(&mut model, 2, 8, 3);
    keeper.stow(&mut model, made.into_iter(), &pieces).unwrap();
    for generation in 0..3 {
        keeper.destroy(&mut model, &pieces).unwrap();
        assert_eq!(keeper.objects(), 0, "generation {generation}: copies deleted");
        assert_eq!(model.children(100) + model.children(101), 0, "generation {generation}: objects destroyed");
        assert_eq!(model.keeper.len(), 2, "generation {generation}: only the pieces stay");
        keeper.take_out(&mut model, &mut pieces).unwrap();
        let made = build(&mut model, 2, 8, 3);
        keeper.stow(&mut model, made.into_iter(), &pieces).unwrap();
        assert_eq!(model.keeper.keys().copied().collect::<Vec<_>>(), [(0..11).collect::<Vec<u64>>(), vec![30, 31]].concat());
    }
    // Destroying while the pieces are out (a failed build) revokes them in their root slots.
    keeper.destroy(&mut model, &pieces).unwrap();
    keeper.take_out(&mut model, &mut pieces).unwrap();
    let _ = build(&mut model, 2, 5, 0);
    keeper.destroy(&mut model, &pieces).unwrap();
    assert_eq!(model.children(100) + model.children(101), 0);
    assert_eq!(model.root.len(), 2, "only the pieces are left in root slots");
}

#[test]
fn a_keeper_too_small_is_full_and_names_its_capacity() {
    let (mut model, mut keeper, pieces) = setup(4, 3);
    // 16 slots, 3 for pieces: 13 objects fit, the 14th does not.
    let made = build(&mut model, 3, 14, 0);
    let error = keeper.stow(&mut model, made.iter().copied(), &pieces).unwrap_err();
    assert_eq!(error, KeeperError::Full { capacity: 16 });
    assert_eq!(alloc::format!("{error}"), "its keeper CNode (16 slots) is full: the footprint counted too few");
    assert_eq!(keeper.objects(), 13);
    // Exactly as many as fit is fine.
    let (mut model, mut keeper, pieces) = setup(4, 3);
    let made = build(&mut model, 3, 13, 0);
    keeper.stow(&mut model, made.into_iter(), &pieces).unwrap();
    assert_eq!(model.keeper.len(), 16);
}

#[test]
fn taking_pieces_out_with_too_few_root_slots_takes_none() {
    let (mut model, mut keeper, mut pieces) = setup(5, 3);
    let made = build(&mut model, 3, 4, 0);
    keeper.stow(&mut model, made.into_iter(), &pieces).unwrap();
    keeper.destroy(&mut model, &pieces).unwrap();
    let spare: Vec<u64> = model.free.drain(2..).collect();
    let error = keeper.take_out(&mut model, &mut pieces).unwrap_err();
    assert_eq!(error, KeeperError::SlotsFull { needed: 3, free: 2 });
    assert!(alloc::format!("{error}").contains("3 needed, 2 free"));
    assert_eq!(model.free_slots(), 2, "no slot taken");
    assert!((0..3).all(|i| keeper.holds_piece(i)), "every piece still kept");
    // With the slots back, the same keeper gives them out.
    model.free.extend(spare);
    keeper.take_out(&mut model, &mut pieces).unwrap();
}

#[test]
fn a_failed_move_is_named_and_leaves_every_capability_somewhere() {
    for fail_at in 1..=6 {
        let (mut model, mut keeper, mut pieces) = setup(5, 2);
        let made = build(&mut model, 2, 3, 0);
        model.fail_at = Some(fail_at);
        let result = keeper.stow(&mut model, made.into_iter(), &pieces);
        let what = if fail_at <= 3 { "move into the keeper" } else { "move domain memory into its keeper" };
        match result {
            Err(KeeperError::Kernel(named, Refused::Injected)) if fail_at <= 5 => assert_eq!(named, what),
            Ok(()) => assert_eq!(fail_at, 6, "only an injection after the last move lets stow succeed"),
            other => panic!("fail_at {fail_at}: {other:?}"),
        }
        // Nothing is lost: 2 pieces and 3 objects, in the root CNode or the keeper.
        assert_eq!(model.root.len() + model.keeper.len(), 5, "fail_at {fail_at}");
        // And destroy still reaches every piece, wherever it is.
        model.fail_at = None;
        keeper.destroy(&mut model, &pieces).unwrap();
        assert_eq!(model.children(100) + model.children(101), 0, "fail_at {fail_at}");
        keeper.take_out(&mut model, &mut pieces).unwrap();
        assert_eq!(model.root.len(), 2);
    }
}

#[test]
fn pieces_made_in_the_keeper_are_taken_out_for_the_first_build() {
    // The root server retypes each piece straight into its keeper slot at boot.
    let mut model = Model::new(10..74, 32);
    let mut keeper = Keeper::new(5, 5);
    for i in 0..3 {
        model.keeper.insert(keeper.piece_slot(i), Cap { id: 100 + i as u32, parent: None });
        keeper.keep_piece(i);
    }
    let free = model.free_slots();
    let mut pieces = vec![0; 3];
    keeper.take_out(&mut model, &mut pieces).unwrap();
    assert_eq!(model.free_slots(), free - 3);
    assert!(pieces.iter().enumerate().all(|(i, slot)| model.root[slot].id == 100 + i as u32));
    let made = build(&mut model, 3, 6, 0);
    keeper.stow(&mut model, made.into_iter(), &pieces).unwrap();
    assert_eq!(model.free_slots(), free - 6, "the build's 6 objects' root slots are the caller's to recycle");
    assert_eq!(model.keeper.len(), 9);
}
