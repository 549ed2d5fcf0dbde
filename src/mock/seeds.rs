//! The five seed endpoints, with state.
//!
//! The simulator starts with the sample values of the seed documents, so their examples work
//! as written; tests add more through [`State`](super::State). Wrong state answers with
//! WeChat Pay's codes: 404 `RESOURCE_NOT_EXISTS` (nothing by that id), 403 `NO_AUTH` (it
//! belongs to someone else) and 400 `INVALID_REQUEST` (its state forbids the operation).
//! `docs/simulator.md` lists every case.

use std::collections::{BTreeMap, HashMap};

use http::StatusCode;
use serde_json::{json, Value};

use super::catalog::Input;
use super::reply::Reply;

/// `POST v3/brand/card/card-links/unbind-card-link`
pub(crate) const UNBIND_CARD_LINK: &str = "v3/brand/card/card-links/unbind-card-link";
/// `POST v3/marketing/busifavor/coupons/disassociate`
pub(crate) const BUSIFAVOR_DISASSOCIATE: &str = "v3/marketing/busifavor/coupons/disassociate";
/// `POST v3/marketing/membercard-open/cards/{card_id}/codes/{code}/unavailable`
pub(crate) const MEMBER_CARD_UNAVAILABLE: &str =
    "v3/marketing/membercard-open/cards/{card_id}/codes/{code}/unavailable";
/// `POST v3/brand/partner/store/brandstores/{store_id}/unbindrecipient`
pub(crate) const STORE_UNBIND_RECIPIENT: &str =
    "v3/brand/partner/store/brandstores/{store_id}/unbindrecipient";
/// `POST v3/password-exempt-contract/contracts/service-id/{service_id}/out-contract-code/{out_contract_code}/terminate`
pub(crate) const CONTRACT_TERMINATE: &str =
    "v3/password-exempt-contract/contracts/service-id/{service_id}/out-contract-code/{out_contract_code}/terminate";

/// The payment scenes `unbind-card-link` accepts.
const PAYMENT_SCENES: &[&str] = &["MINI_PROGRAM", "APP", "PAYMENT_SCORE", "PAYMENT_CODE"];

/// A 交易连接名片 (card link) configuration, keyed by brand and payment scene.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CardLink {
    /// The brand id (`brand_id`).
    pub brand_id: String,
    /// `MINI_PROGRAM`, `APP`, `PAYMENT_SCORE` or `PAYMENT_CODE`.
    pub payment_scene: String,
    /// The AppID, when the link has one.
    pub appid: Option<String>,
    /// The merchant id of the link, when it has one.
    pub card_link_mchid: Option<String>,
    /// The service id, when the link has one.
    pub service_id: Option<String>,
}

#[derive(Debug, Clone)]
struct CardLinkEntry {
    link: CardLink,
    effective: bool,
}

#[derive(Debug, Clone)]
struct Contract {
    mchid: String,
    terminated: bool,
}

/// Everything the seed endpoints remember.
#[derive(Debug, Clone, Default)]
pub(crate) struct SeedData {
    card_links: Vec<CardLinkEntry>,
    /// (stock_id, coupon_code) -> the order the coupon is associated with, if any.
    coupons: HashMap<(String, String), Option<String>>,
    /// out_request_no -> the request key and the answer given, so a retry gets the same answer.
    disassociations: HashMap<String, (String, String, String, Value)>,
    /// (card_id, code) -> still available.
    member_codes: HashMap<(String, String), bool>,
    /// store_id -> (brand_id, recipient mchid -> still bound).
    stores: HashMap<String, (String, BTreeMap<String, bool>)>,
    /// (service_id, out_contract_code) -> contract.
    contracts: HashMap<(String, String), Contract>,
}

/// The sample values of the seed documents (see `docs/simulator.md`).
pub(crate) mod samples {
    /// unbind-card-link: brand, scene, appid, mchid, service id (from its seed document).
    pub(crate) const CARD_LINK: (&str, &str, &str, &str, &str) = (
        "1004",
        "MINI_PROGRAM",
        "wxea9c30890f48d5ae",
        "111222333",
        "00005000000000548218251086296300",
    );
    /// busifavor disassociate: stock id, coupon code, associated order, a request number. Its
    /// seed document leaves them empty; these come from WeChat Pay's busifavor examples.
    pub(crate) const COUPON: (&str, &str, &str, &str) = (
        "100088",
        "sxxe34343434",
        "MCH_102233445",
        "1002600620019090123143254435",
    );
    /// membercard unavailable: card id and code.
    pub(crate) const MEMBER_CARD: (&str, &str) = ("pbLatjvWOibDc5-TBnbUk1pD12o0", "478515832665");
    /// unbindrecipient: store, brand, recipient mchid.
    pub(crate) const STORE: (&str, &str, &str) = ("1234567890123456", "123456789", "1230000109");
    /// password-exempt terminate: service id, contract code.
    pub(crate) const CONTRACT: (&str, &str) = ("12535", "wxwtdk20200910100000");
}

impl SeedData {
    /// The state the simulator starts with: the seed documents' sample values.
    pub(crate) fn samples(demo_mchid: &str) -> Self {
        let mut data = Self::default();
        let (brand, scene, appid, mchid, service) = samples::CARD_LINK;
        data.add_card_link(CardLink {
            brand_id: brand.into(),
            payment_scene: scene.into(),
            appid: Some(appid.into()),
            card_link_mchid: Some(mchid.into()),
            service_id: Some(service.into()),
        });
        let (stock, coupon, order, _) = samples::COUPON;
        data.add_coupon(stock, coupon, order);
        let (card, code) = samples::MEMBER_CARD;
        data.add_member_code(card, code);
        let (store, brand, mchid) = samples::STORE;
        data.add_store_recipient(store, brand, mchid);
        let (service, contract) = samples::CONTRACT;
        data.add_contract(demo_mchid, service, contract);
        data
    }

    pub(crate) fn add_card_link(&mut self, link: CardLink) {
        self.card_links.retain(|e| {
            !(e.link.brand_id == link.brand_id && e.link.payment_scene == link.payment_scene)
        });
        self.card_links.push(CardLinkEntry {
            link,
            effective: true,
        });
    }

    pub(crate) fn card_link_effective(&self, brand_id: &str, payment_scene: &str) -> Option<bool> {
        self.card_links
            .iter()
            .find(|e| e.link.brand_id == brand_id && e.link.payment_scene == payment_scene)
            .map(|e| e.effective)
    }

    pub(crate) fn add_coupon(&mut self, stock_id: &str, coupon_code: &str, out_trade_no: &str) {
        self.coupons.insert(
            (stock_id.into(), coupon_code.into()),
            Some(out_trade_no.into()),
        );
    }

    pub(crate) fn coupon_order(&self, stock_id: &str, coupon_code: &str) -> Option<Option<String>> {
        self.coupons
            .get(&(stock_id.into(), coupon_code.into()))
            .cloned()
    }

    pub(crate) fn add_member_code(&mut self, card_id: &str, code: &str) {
        self.member_codes
            .insert((card_id.into(), code.into()), true);
    }

    pub(crate) fn member_code_available(&self, card_id: &str, code: &str) -> Option<bool> {
        self.member_codes
            .get(&(card_id.into(), code.into()))
            .copied()
    }

    pub(crate) fn add_store_recipient(&mut self, store_id: &str, brand_id: &str, mchid: &str) {
        let store = self
            .stores
            .entry(store_id.into())
            .or_insert_with(|| (brand_id.into(), BTreeMap::new()));
        store.0 = brand_id.into();
        store.1.insert(mchid.into(), true);
    }

    pub(crate) fn store_recipient_bound(&self, store_id: &str, mchid: &str) -> Option<bool> {
        self.stores
            .get(store_id)
            .and_then(|(_, r)| r.get(mchid).copied())
    }

    pub(crate) fn add_contract(&mut self, mchid: &str, service_id: &str, out_contract_code: &str) {
        self.contracts.insert(
            (service_id.into(), out_contract_code.into()),
            Contract {
                mchid: mchid.into(),
                terminated: false,
            },
        );
    }

    pub(crate) fn contract_terminated(
        &self,
        service_id: &str,
        out_contract_code: &str,
    ) -> Option<bool> {
        self.contracts
            .get(&(service_id.into(), out_contract_code.into()))
            .map(|c| c.terminated)
    }

    /// Runs the seed behind `path` (a catalog template), or `None` when `path` is no seed.
    /// Required fields were already checked against the catalog.
    pub(crate) fn handle(&mut self, path: &str, input: &Input, now: i64) -> Option<Reply> {
        Some(match path {
            UNBIND_CARD_LINK => self.unbind_card_link(input),
            BUSIFAVOR_DISASSOCIATE => self.disassociate(input, now),
            MEMBER_CARD_UNAVAILABLE => self.member_card_unavailable(input),
            STORE_UNBIND_RECIPIENT => self.unbind_recipient(input),
            CONTRACT_TERMINATE => self.terminate_contract(input),
            _ => return None,
        })
    }

    fn unbind_card_link(&mut self, input: &Input) -> Reply {
        let brand_id = input.body_str("brand_id");
        let scene = input.body_str("payment_scene");
        if !PAYMENT_SCENES.contains(&scene) {
            return Reply::param_error(
                "payment_scene",
                "body",
                format!(
                    "payment_scene `{scene}` is not one of {}",
                    PAYMENT_SCENES.join(", ")
                ),
            );
        }
        let Some(entry) = self
            .card_links
            .iter_mut()
            .find(|e| e.link.brand_id == brand_id && e.link.payment_scene == scene)
        else {
            return Reply::not_exists(format!(
                "brand {brand_id} has no card link for scene {scene}"
            ));
        };
        for (field, stored) in [
            ("appid", &entry.link.appid),
            ("card_link_mchid", &entry.link.card_link_mchid),
            ("service_id", &entry.link.service_id),
        ] {
            let given = input.body_str(field);
            if !given.is_empty() && stored.as_deref() != Some(given) {
                return Reply::not_exists(format!(
                    "brand {brand_id} has no card link for scene {scene} with {field} `{given}`"
                ));
            }
        }
        if !entry.effective {
            return Reply::invalid_request(format!(
                "the card link of brand {brand_id} for scene {scene} is not effective (已生效); it was already unbound"
            ));
        }
        entry.effective = false;
        let link = &entry.link;
        let mut body = json!({ "brand_id": link.brand_id, "payment_scene": link.payment_scene });
        for (field, value) in [
            ("appid", &link.appid),
            ("card_link_mchid", &link.card_link_mchid),
            ("service_id", &link.service_id),
        ] {
            if let (Some(v), Some(map)) = (value, body.as_object_mut()) {
                map.insert(field.into(), Value::String(v.clone()));
            }
        }
        Reply::json(StatusCode::OK, &body)
    }

    fn disassociate(&mut self, input: &Input, now: i64) -> Reply {
        let stock_id = input.body_str("stock_id");
        let coupon_code = input.body_str("coupon_code");
        let out_trade_no = input.body_str("out_trade_no");
        let out_request_no = input.body_str("out_request_no");
        // WeChat Pay: a retry with the same out_request_no gets the same answer.
        if let Some((s, c, o, answer)) = self.disassociations.get(out_request_no) {
            if (s.as_str(), c.as_str(), o.as_str()) == (stock_id, coupon_code, out_trade_no) {
                return Reply::json(StatusCode::OK, answer);
            }
            return Reply::invalid_request(format!(
                "out_request_no `{out_request_no}` was already used for another request"
            ));
        }
        let Some(order) = self.coupons.get_mut(&(stock_id.into(), coupon_code.into())) else {
            return Reply::not_exists(format!("stock {stock_id} has no coupon `{coupon_code}`"));
        };
        match order.as_deref() {
            None => {
                return Reply::invalid_request(format!(
                    "coupon `{coupon_code}` is not associated with any order"
                ))
            }
            Some(o) if o != out_trade_no => {
                return Reply::invalid_request(format!(
                    "coupon `{coupon_code}` is associated with another order, not `{out_trade_no}`"
                ))
            }
            Some(_) => {}
        }
        *order = None;
        let answer = json!({ "wechatpay_disassociate_time": super::time::rfc3339_cst(now) });
        self.disassociations.insert(
            out_request_no.into(),
            (
                stock_id.into(),
                coupon_code.into(),
                out_trade_no.into(),
                answer.clone(),
            ),
        );
        Reply::json(StatusCode::OK, &answer)
    }

    fn member_card_unavailable(&mut self, input: &Input) -> Reply {
        let card_id = input.path("card_id");
        let code = input.path("code");
        match self.member_codes.get_mut(&(card_id.into(), code.into())) {
            None => Reply::not_exists(format!("card {card_id} has no code `{code}`")),
            Some(false) => Reply::invalid_request(format!(
                "code `{code}` of card {card_id} is already unavailable"
            )),
            Some(available) => {
                *available = false;
                Reply::empty(StatusCode::NO_CONTENT)
            }
        }
    }

    fn unbind_recipient(&mut self, input: &Input) -> Reply {
        let store_id = input.path("store_id");
        let brand_id = input.body_str("brand_id");
        let mchid = input.body_str("mchid");
        let Some((owner, recipients)) = self.stores.get_mut(store_id) else {
            return Reply::not_exists(format!("brand store {store_id} does not exist"));
        };
        if owner != brand_id {
            return Reply::error(
                StatusCode::FORBIDDEN,
                "NO_AUTH",
                format!("brand store {store_id} does not belong to brand {brand_id}"),
            );
        }
        match recipients.get_mut(mchid) {
            Some(bound) if *bound => {
                *bound = false;
                Reply::json(StatusCode::OK, &json!({}))
            }
            Some(_) => Reply::invalid_request(format!(
                "mchid {mchid} is no longer bound (已绑定) to brand store {store_id}"
            )),
            None => Reply::invalid_request(format!(
                "mchid {mchid} is not a recipient of brand store {store_id}"
            )),
        }
    }

    fn terminate_contract(&mut self, input: &Input) -> Reply {
        let service_id = input.path("service_id");
        let code = input.path("out_contract_code");
        let contract = self
            .contracts
            .get_mut(&(service_id.into(), code.into()))
            .filter(|c| c.mchid == input.mchid);
        match contract {
            None => Reply::not_exists(format!(
                "merchant {} has no contract `{code}` under service {service_id}",
                input.mchid
            )),
            Some(c) if c.terminated => Reply::invalid_request(format!(
                "contract `{code}` is already terminated; only an effective (已生效) contract can be terminated"
            )),
            Some(c) => {
                c.terminated = true;
                // service_id is a number in WeChat Pay's answer.
                let service: Value = service_id
                    .parse::<u64>()
                    .map_or_else(|_| Value::String(service_id.into()), Value::from);
                Reply::json(
                    StatusCode::OK,
                    &json!({ "mchid": c.mchid, "service_id": service, "out_contract_code": code }),
                )
            }
        }
    }
}
